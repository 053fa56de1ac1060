# Several control planes on one database: atomic job claims and owner leases
# (job_store.h), on SQLite and on the PostgreSQL test server.
if(TARGET tandem_compute)
  tandem_test(job_lease_test SOURCES job_lease_test.cc
    DEPS tandem_compute tandem_sql_pgtest SERVERS postgres)
endif()
