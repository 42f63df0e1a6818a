//! Test CAs and leaf certificates (rcgen): `--tls-self-signed DIR` and the tests.
