//! The trusted root (`trusted_root.json`, Sigstore's `TrustedRoot` message in protobuf JSON):
//! Fulcio CAs, Rekor logs, CT logs and timestamp authorities, each with a validity period.
//!
//! Parsing is strict where a mistake would widen trust: every `validFor` needs a `start` (a
//! missing bound is never read as "unbounded"), every certificate must parse, key IDs must be
//! present. A key of an unsupported type is kept as unsupported and only refused if a bundle
//! relies on it, so that one RSA CT log in a root does not make the whole root unusable.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::Decode as _;
use serde::Deserialize;
use x509_cert::Certificate;

use crate::crypto::PublicKey;
use crate::time::{Timestamp, Validity};

/// Largest trusted root accepted, in bytes.
pub const MAX_TRUSTED_ROOT_SIZE: usize = 1 << 20;

/// The public-good production trusted root shipped with Cairn (a copy of Sigstore's
/// `trusted_root.json` as distributed by its TUF repository).
pub const PRODUCTION_TRUSTED_ROOT: &[u8] =
    include_bytes!("../testdata/trusted_root.production.json");

const MEDIA_TYPES: &[&str] = &[
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.1+json",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
];

/// A trusted root that parsed and passed the structural checks.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub(crate) tlogs: Vec<LogInstance>,
    pub(crate) ctlogs: Vec<LogInstance>,
    pub(crate) cas: Vec<CertAuthority>,
    pub(crate) tsas: Vec<CertAuthority>,
}

/// A transparency log (Rekor or CT) of the trusted root.
#[derive(Debug, Clone)]
pub(crate) struct LogInstance {
    pub(crate) base_url: String,
    pub(crate) log_id: Vec<u8>,
    pub(crate) spki_der: Vec<u8>,
    pub(crate) key: Result<PublicKey, String>,
    pub(crate) valid: Validity,
}

impl LogInstance {
    /// The log's checkpoint key name: the base URL without its scheme and trailing slash
    /// (`https://rekor.sigstore.dev` signs as `rekor.sigstore.dev`).
    pub(crate) fn checkpoint_name(&self) -> &str {
        let url = self.base_url.as_str();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or(url);
        rest.trim_end_matches('/')
    }
}

/// A certificate authority (Fulcio) or timestamp authority of the trusted root.
#[derive(Debug, Clone)]
pub(crate) struct CertAuthority {
    pub(crate) uri: String,
    /// Leaf-most first: for Fulcio the issuing intermediate, for a TSA the signing certificate;
    /// the last certificate is the root.
    pub(crate) chain: Vec<Certificate>,
    pub(crate) chain_der: Vec<Vec<u8>>,
    pub(crate) valid: Validity,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    base_url: String,
    #[serde(default)]
    hash_algorithm: Option<String>,
    public_key: RawKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: String,
    key_details: String,
    valid_for: Option<RawValidity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawValidity {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: Option<RawValidity>,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

impl TrustedRoot {
    /// The public-good production root shipped with Cairn.
    pub fn production() -> TrustedRoot {
        TrustedRoot::from_json(PRODUCTION_TRUSTED_ROOT)
            .expect("the trusted root shipped with Cairn parses (checked by a unit test)")
    }

    /// Parses a `trusted_root.json`.
    pub fn from_json(bytes: &[u8]) -> Result<TrustedRoot, String> {
        if bytes.len() > MAX_TRUSTED_ROOT_SIZE {
            return Err(format!(
                "trusted root is {} bytes, more than the limit of {MAX_TRUSTED_ROOT_SIZE}",
                bytes.len()
            ));
        }
        let raw: RawRoot =
            serde_json::from_slice(bytes).map_err(|e| format!("trusted root is not valid: {e}"))?;
        if !MEDIA_TYPES.contains(&raw.media_type.as_str()) {
            return Err(format!(
                "trusted root has unsupported media type {:?}",
                raw.media_type
            ));
        }
        let tlogs = raw
            .tlogs
            .iter()
            .map(|l| parse_log(l, "transparency log"))
            .collect::<Result<Vec<_>, _>>()?;
        let ctlogs = raw
            .ctlogs
            .iter()
            .map(|l| parse_log(l, "CT log"))
            .collect::<Result<Vec<_>, _>>()?;
        let cas = raw
            .certificate_authorities
            .iter()
            .map(|c| parse_ca(c, "certificate authority"))
            .collect::<Result<Vec<_>, _>>()?;
        let tsas = raw
            .timestamp_authorities
            .iter()
            .map(|c| parse_ca(c, "timestamp authority"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedRoot {
            tlogs,
            ctlogs,
            cas,
            tsas,
        })
    }
}

fn parse_validity(raw: Option<&RawValidity>, what: &str) -> Result<Validity, String> {
    let raw = raw.ok_or_else(|| format!("{what} has no validFor period"))?;
    let start = raw
        .start
        .as_deref()
        .ok_or_else(|| format!("{what} has a validFor period without a start"))?;
    let start = Timestamp::parse_rfc3339(start).map_err(|e| format!("{what} validFor: {e}"))?;
    let end = raw
        .end
        .as_deref()
        .map(Timestamp::parse_rfc3339)
        .transpose()
        .map_err(|e| format!("{what} validFor: {e}"))?;
    if end.is_some_and(|end| end < start) {
        return Err(format!("{what} validFor ends before it starts"));
    }
    Ok(Validity { start, end })
}

fn parse_log(raw: &RawLog, kind: &str) -> Result<LogInstance, String> {
    let what = format!("{kind} {}", raw.base_url);
    if let Some(h) = &raw.hash_algorithm {
        if h != "SHA2_256" {
            return Err(format!("{what} uses unsupported hash algorithm {h:?}"));
        }
    }
    let log_id = STANDARD
        .decode(&raw.log_id.key_id)
        .map_err(|_| format!("{what} has a log ID that is not base64"))?;
    if log_id.is_empty() {
        return Err(format!("{what} has an empty log ID"));
    }
    let der = STANDARD
        .decode(&raw.public_key.raw_bytes)
        .map_err(|_| format!("{what} has a public key that is not base64"))?;
    let valid = parse_validity(raw.public_key.valid_for.as_ref(), &what)?;
    let key = match raw.public_key.key_details.as_str() {
        "PKIX_ECDSA_P256_SHA_256" | "PKIX_ECDSA_P384_SHA_384" | "PKIX_ED25519" => {
            let key = PublicKey::from_spki_der(&der).map_err(|e| format!("{what}: {e}"))?;
            let expected = match raw.public_key.key_details.as_str() {
                "PKIX_ECDSA_P256_SHA_256" => "ECDSA P-256",
                "PKIX_ECDSA_P384_SHA_384" => "ECDSA P-384",
                _ => "Ed25519",
            };
            if key.describe() != expected {
                return Err(format!(
                    "{what}: keyDetails {} but the key is {}",
                    raw.public_key.key_details,
                    key.describe()
                ));
            }
            Ok(key)
        }
        other => Err(format!("{what} has a key of unsupported type {other}")),
    };
    Ok(LogInstance {
        base_url: raw.base_url.clone(),
        log_id,
        spki_der: der,
        key,
        valid,
    })
}

fn parse_ca(raw: &RawCa, kind: &str) -> Result<CertAuthority, String> {
    let what = format!("{kind} {}", raw.uri);
    if raw.cert_chain.certificates.is_empty() {
        return Err(format!("{what} has an empty certificate chain"));
    }
    let mut chain = Vec::new();
    let mut chain_der = Vec::new();
    for cert in &raw.cert_chain.certificates {
        let der = STANDARD
            .decode(&cert.raw_bytes)
            .map_err(|_| format!("{what} has a certificate that is not base64"))?;
        let parsed = Certificate::from_der(&der)
            .map_err(|e| format!("{what} has a certificate that does not parse: {e}"))?;
        chain.push(parsed);
        chain_der.push(der);
    }
    let valid = parse_validity(raw.valid_for.as_ref(), &what)?;
    Ok(CertAuthority {
        uri: raw.uri.clone(),
        chain,
        chain_der,
        valid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_production_root_parses() {
        let root = TrustedRoot::production();
        assert_eq!(root.tlogs.len(), 2);
        assert!(root.tlogs.iter().all(|l| l.key.is_ok()));
        assert_eq!(root.tlogs[0].checkpoint_name(), "rekor.sigstore.dev");
        assert!(!root.cas.is_empty() && !root.ctlogs.is_empty() && !root.tsas.is_empty());
    }

    #[test]
    fn a_validity_without_start_is_refused() {
        let text = String::from_utf8(PRODUCTION_TRUSTED_ROOT.to_vec()).expect("utf-8");
        let broken = text.replacen("\"start\": \"2021-01-12T11:53:27Z\"", "\"x\": 1", 1);
        assert_ne!(
            broken, text,
            "the production root has the expected Rekor start"
        );
        let err = TrustedRoot::from_json(broken.as_bytes()).expect_err("refused");
        assert!(err.contains("without a start"), "{err}");
    }

    #[test]
    fn unknown_media_type_and_garbage_are_refused() {
        assert!(TrustedRoot::from_json(b"{").is_err());
        assert!(TrustedRoot::from_json(br#"{"mediaType":"x"}"#).is_err());
    }
}
