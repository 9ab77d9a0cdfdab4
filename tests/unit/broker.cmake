cmpd_add_test(test_broker_config SOURCES test_broker_config.c
	LIBS cmpd-broker-lib)
cmpd_add_test(test_broker_store SOURCES test_broker_store.c
	LIBS cmpd-broker-lib)
cmpd_add_test(test_broker_track SOURCES test_broker_track.c
	LIBS cmpd-broker-lib)
cmpd_add_test(test_broker_event SOURCES test_broker_event.c
	LIBS cmpd-broker-lib)
cmpd_add_test(test_broker_worker SOURCES test_broker_worker.c
	LIBS cmpd-broker-lib LABEL unit TIMEOUT 120)
add_dependencies(test_broker_worker cmpd-keyworker)
