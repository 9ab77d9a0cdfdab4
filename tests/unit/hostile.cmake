cmpd_add_test(test_hostile_ipc SOURCES test_hostile_ipc.c LIBS cmpd-proto
	LABEL unit TIMEOUT 30)
