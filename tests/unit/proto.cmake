cmpd_add_test(test_proto SOURCES test_proto.c LIBS cmpd-proto)
