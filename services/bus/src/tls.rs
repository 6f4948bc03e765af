//! TLS on the broker's listener: the store's own certificate, made once at install (or at the
//! first `milo up`), the broker's side of the handshake, and every part's client side, which
//! trusts that one certificate and nothing else.
//!
//! The crypto provider is rustls's `ring` (never aws-lc-rs, which needs cmake and clang to
//! cross-compile): docs/ARCHITECTURE.md, "TLS on the LAN listener", says why and what the cross
//! builds need.
//!
//! **The certificate**: self-signed ECDSA P-256, made by rcgen, with `localhost`, `127.0.0.1`,
//! `::1`, the machine's host name (and `<host>.local`) and `security.tls_names` as its names.
//! The key is written mode 0640 (root and the `milo` group), the certificate 0644 (it is
//! public: every part and the operator's tools need it).
//!
//! **Pinning**: a part trusts exactly the store's certificate (the file it was given), byte for
//! byte, and checks it as webpki would (signature, validity period) with that certificate as the
//! only root. The name the part dialled is checked too, and a mismatch alone is forgiven: a
//! café's server gets its address from the router's DHCP, unknown when the certificate was
//! made, and nobody without the store's private key can present that certificate (the
//! handshake's signature is always checked against it). Tools that check names the usual way
//! (`mosquitto_sub --cafile`) connect by one of the certificate's names.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error as RustlsError, SignatureScheme};

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        error: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A name that cannot go into a certificate, or rustls/rcgen refused.
    #[error("{0}")]
    Setup(String),
}

/// The crypto provider every TLS connection of Milo uses: rustls's `ring`.
///
/// rustls 0.23.48 deprecated it for one reason: its key exchange has no post-quantum group
/// (X25519MLKEM768 is only in the aws-lc-rs provider, which Milo cannot cross-build without
/// cmake and clang). Key exchange is X25519 / P-256 / P-384; docs/ARCHITECTURE.md says what
/// that leaves open.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// What [`ensure_certificate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    /// Both files were there: kept as they are.
    Kept,
    /// A new certificate and key were written.
    Made,
}

/// Makes the store's certificate (`cert`, mode 0644) and key (`key`, mode 0640) unless both
/// exist; `names` are DNS names or IP addresses the certificate also carries. One file without
/// the other is an error (never silently replaced: the parts pin the certificate).
pub fn ensure_certificate(cert: &Path, key: &Path, names: &[String]) -> Result<Made, TlsError> {
    match (cert.exists(), key.exists()) {
        (true, true) => return Ok(Made::Kept),
        (false, false) => {}
        (has_cert, _) => {
            let (there, missing) = if has_cert { (cert, key) } else { (key, cert) };
            return Err(TlsError::Invalid {
                path: missing.to_owned(),
                reason: format!(
                    "missing while {} exists: restore it, or remove both to make a new pair \
                     (every part then needs the new certificate)",
                    there.display()
                ),
            });
        }
    }
    let (cert_pem, key_pem) = make_certificate(names)?;
    write_file(key, key_pem.as_bytes(), 0o640)?;
    write_file(cert, cert_pem.as_bytes(), 0o644)?;
    Ok(Made::Made)
}

/// The names a new certificate carries: loopback, this machine's host name and `extra`.
pub fn certificate_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    if is_dns_name(host) && host != "localhost" {
        names.push(host.to_owned());
        if !host.contains('.') {
            names.push(format!("{host}.local"));
        }
    }
    for n in extra {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// True for a name that can be a certificate's DNS name.
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Checks one of `security.tls_names`: an IP address or a DNS name.
pub fn valid_name(name: &str) -> Result<(), TlsError> {
    if name.parse::<IpAddr>().is_ok() || is_dns_name(name) {
        Ok(())
    } else {
        Err(TlsError::Setup(format!(
            "{name:?} is neither an IP address nor a DNS name"
        )))
    }
}

/// A new self-signed certificate and its key, as PEM.
fn make_certificate(extra: &[String]) -> Result<(String, String), TlsError> {
    for n in extra {
        valid_name(n)?;
    }
    let names = certificate_names(extra);
    let setup = |e: rcgen::Error| TlsError::Setup(format!("cannot make the certificate: {e}"));
    // IP addresses become IP names, the rest DNS names.
    let mut params = rcgen::CertificateParams::new(names).map_err(setup)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Milo store broker");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Milo");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(setup)?;
    let cert = params.self_signed(&key).map_err(setup)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `body` at `path` with `mode`, replacing it atomically.
fn write_file(path: &Path, body: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |error| TlsError::Io {
        path: path.to_owned(),
        error,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(body).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// The certificates in a PEM file (at least one).
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = std::fs::read(path).map_err(|error| TlsError::Io {
        path: path.to_owned(),
        error,
    })?;
    let invalid = |reason: String| TlsError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("no certificate in it".into()));
    }
    Ok(certs)
}

/// The broker's side: the certificate (chain) at `cert` and the key at `key`.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = load_certificates(cert)?;
    let text = std::fs::read(key).map_err(|error| TlsError::Io {
        path: key.to_owned(),
        error,
    })?;
    let key_der = PrivateKeyDer::from_pem_slice(&text).map_err(|e| TlsError::Invalid {
        path: key.to_owned(),
        reason: format!("not a PEM private key: {e}"),
    })?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| TlsError::Invalid {
            path: key.to_owned(),
            reason: format!("does not go with {}: {e}", cert.display()),
        })?;
    Ok(Arc::new(config))
}

/// A part's side: trusts the store's certificate at `cert` (pinned) and nothing else.
pub fn client_config(cert: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let pinned = load_certificates(cert)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in &pinned {
        roots.add(c.clone()).map_err(|e| TlsError::Invalid {
            path: cert.to_owned(),
            reason: format!("cannot be trusted: {e}"),
        })?;
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let verifier = Arc::new(Pinned { pinned, webpki });
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Trusts the store's own certificate, byte for byte, checked by webpki with it as the only
/// root; a name mismatch alone is forgiven (see the module's documentation).
#[derive(Debug)]
struct Pinned {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, RustlsError> {
        if !self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Err(RustlsError::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        }
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => Ok(v),
            Err(RustlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn made_once_kept_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let names = vec!["192.168.1.10".to_owned(), "milo-store.lan".to_owned()];
        assert_eq!(ensure_certificate(&cert, &key, &names).unwrap(), Made::Made);
        let first = std::fs::read(&cert).unwrap();
        assert_eq!(ensure_certificate(&cert, &key, &[]).unwrap(), Made::Kept);
        assert_eq!(std::fs::read(&cert).unwrap(), first);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&cert), mode(&key)), (0o644, 0o640));
        server_config(&cert, &key).unwrap();
        client_config(&cert).unwrap();
        std::fs::remove_file(&key).unwrap();
        let err = ensure_certificate(&cert, &key, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
        assert!(valid_name("bad name").is_err());
        assert!(valid_name("::1").is_ok() && valid_name("pi.local").is_ok());
    }

    #[test]
    fn only_the_pinned_certificate_passes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, ak) = (dir.path().join("a.pem"), dir.path().join("ak.pem"));
        let (b, bk) = (dir.path().join("b.pem"), dir.path().join("bk.pem"));
        ensure_certificate(&a, &ak, &[]).unwrap();
        ensure_certificate(&b, &bk, &[]).unwrap();
        let pinned = load_certificates(&a).unwrap();
        let other = load_certificates(&b).unwrap();
        let roots = {
            let mut r = rustls::RootCertStore::empty();
            r.add(pinned[0].clone()).unwrap();
            Arc::new(r)
        };
        let v = Pinned {
            pinned: pinned.clone(),
            webpki: WebPkiServerVerifier::builder_with_provider(roots, provider())
                .build()
                .unwrap(),
        };
        let now = UnixTime::now();
        let name = |s: &str| ServerName::try_from(s.to_owned()).unwrap();
        assert!(v
            .verify_server_cert(&pinned[0], &[], &name("localhost"), &[], now)
            .is_ok());
        // An address the certificate does not name (a DHCP lease): still the store's.
        assert!(v
            .verify_server_cert(&pinned[0], &[], &name("10.1.2.3"), &[], now)
            .is_ok());
        assert!(v
            .verify_server_cert(&other[0], &[], &name("localhost"), &[], now)
            .is_err());
    }
}
