"""Everything that calls AWS, each taking an endpoint (AWS, LocalStack or moto): the staging
store, the Iceberg table, the query engines and the Kinesis writer."""
