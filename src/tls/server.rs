//! rustls server configurations for the local gateway and idp (optionally mTLS).
