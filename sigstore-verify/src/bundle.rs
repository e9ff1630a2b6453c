//! The Sigstore bundle (`*.sigstore.json`, protobuf JSON of `dev.sigstore.bundle.v1.Bundle`),
//! versions 0.1 to 0.3, parsed into typed, decoded fields. Nothing here is verified yet.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::Error;

/// Largest bundle accepted, in bytes.
pub const MAX_BUNDLE_SIZE: usize = 16 << 20;
/// Most transparency-log entries or timestamps a bundle may carry.
const MAX_ITEMS: usize = 8;
/// Most hashes in an inclusion proof (a tree of 2^64 leaves needs 64).
const MAX_PROOF_HASHES: usize = 64;

/// The bundle format version, from the media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BundleVersion {
    /// `application/vnd.dev.sigstore.bundle+json;version=0.1`
    V0_1,
    /// `application/vnd.dev.sigstore.bundle+json;version=0.2`
    V0_2,
    /// `...;version=0.3` or `application/vnd.dev.sigstore.bundle.v0.3+json`
    V0_3,
}

#[derive(Debug)]
pub(crate) enum Material {
    /// DER of the signing (leaf) certificate.
    Certificate(Vec<u8>),
    /// A public key known to the verifier out of band; the hint is informational.
    PublicKey,
}

#[derive(Debug)]
pub(crate) enum Content {
    Message {
        /// `messageDigest` (SHA-256 only), an unauthenticated hint that must still agree.
        digest: Option<[u8; 32]>,
        signature: Vec<u8>,
    },
    Dsse(Envelope),
}

#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) payload: Vec<u8>,
    pub(crate) payload_type: String,
    pub(crate) signature: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct TlogEntry {
    pub(crate) log_index: u64,
    pub(crate) log_id: Vec<u8>,
    pub(crate) kind: String,
    pub(crate) version: String,
    pub(crate) integrated_time: Option<i64>,
    pub(crate) set: Option<Vec<u8>>,
    pub(crate) proof: Option<InclusionProof>,
    pub(crate) body: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct InclusionProof {
    pub(crate) log_index: u64,
    pub(crate) root: [u8; 32],
    pub(crate) tree_size: u64,
    pub(crate) hashes: Vec<[u8; 32]>,
    pub(crate) checkpoint: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Bundle {
    pub(crate) version: BundleVersion,
    pub(crate) material: Material,
    pub(crate) entries: Vec<TlogEntry>,
    pub(crate) timestamps: Vec<Vec<u8>>,
    pub(crate) content: Content,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    verification_material: RawMaterial,
    message_signature: Option<RawMessageSignature>,
    dsse_envelope: Option<RawEnvelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    public_key: Option<serde_json::Value>,
    x509_certificate_chain: Option<RawChain>,
    certificate: Option<RawCert>,
    #[serde(default)]
    tlog_entries: Vec<RawEntry>,
    timestamp_verification_data: Option<RawTimestampData>,
}

#[derive(Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestampData {
    #[serde(default)]
    rfc3161_timestamps: Vec<RawTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamp {
    signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    log_index: serde_json::Value,
    log_id: RawLogId,
    kind_version: RawKindVersion,
    integrated_time: Option<serde_json::Value>,
    inclusion_promise: Option<RawPromise>,
    inclusion_proof: Option<RawProof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawKindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    log_index: serde_json::Value,
    root_hash: String,
    tree_size: serde_json::Value,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
struct RawCheckpoint {
    envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessageSignature {
    message_digest: Option<RawDigest>,
    signature: String,
}

#[derive(Deserialize)]
struct RawDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload: String,
    payload_type: String,
    signatures: Vec<RawDsseSignature>,
}

#[derive(Deserialize)]
struct RawDsseSignature {
    sig: String,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::MalformedBundle(msg.into())
}

/// Decodes standard base64 (protobuf JSON `bytes`), naming the field on failure.
pub(crate) fn b64(field: &str, text: &str) -> Result<Vec<u8>, Error> {
    STANDARD
        .decode(text)
        .map_err(|_| malformed(format!("{field} is not valid base64")))
}

fn hash32(field: &str, text: &str) -> Result<[u8; 32], Error> {
    b64(field, text)?
        .try_into()
        .map_err(|_| malformed(format!("{field} is not 32 bytes")))
}

/// A protobuf JSON int64: a string (or number) in canonical decimal.
fn int(field: &str, v: &serde_json::Value) -> Result<i64, Error> {
    let bad = || malformed(format!("{field} is not a canonical decimal integer"));
    match v {
        serde_json::Value::String(s) => {
            let canonical = s == "0"
                || (!s.is_empty()
                    && !s.starts_with('0')
                    && s.len() <= 19
                    && s.bytes().all(|b| b.is_ascii_digit()));
            if !canonical {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        }
        serde_json::Value::Number(n) => n.as_i64().ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn uint(field: &str, v: &serde_json::Value) -> Result<u64, Error> {
    u64::try_from(int(field, v)?).map_err(|_| malformed(format!("{field} is negative")))
}

impl Bundle {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Bundle, Error> {
        if bytes.len() > MAX_BUNDLE_SIZE {
            return Err(malformed(format!(
                "bundle is {} bytes, more than the limit of {MAX_BUNDLE_SIZE}",
                bytes.len()
            )));
        }
        let raw: RawBundle = serde_json::from_slice(bytes).map_err(|e| {
            malformed(format!(
                "bundle is not valid JSON of a Sigstore bundle: {e}"
            ))
        })?;
        let version = match raw.media_type.as_str() {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => BundleVersion::V0_1,
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => BundleVersion::V0_2,
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => BundleVersion::V0_3,
            other => {
                return Err(Error::Unsupported(format!(
                    "unknown bundle media type {:?}",
                    other.chars().take(100).collect::<String>()
                )));
            }
        };
        let vm = raw.verification_material;
        let material = match (vm.public_key, vm.x509_certificate_chain, vm.certificate) {
            (Some(_), None, None) => Material::PublicKey,
            (None, Some(chain), None) => {
                if version == BundleVersion::V0_3 {
                    return Err(malformed(
                        "a version 0.3 bundle must carry a single certificate, not a chain",
                    ));
                }
                // The leaf is the first certificate; the chain to the root comes from the
                // trusted root, never from the bundle.
                let leaf = chain
                    .certificates
                    .first()
                    .ok_or_else(|| malformed("the certificate chain is empty"))?;
                Material::Certificate(b64("certificate", &leaf.raw_bytes)?)
            }
            (None, None, Some(cert)) => {
                if version != BundleVersion::V0_3 {
                    return Err(malformed(
                        "a single `certificate` is only allowed in version 0.3 bundles",
                    ));
                }
                Material::Certificate(b64("certificate", &cert.raw_bytes)?)
            }
            (None, None, None) => {
                return Err(malformed(
                    "verification material has no certificate and no public key",
                ));
            }
            _ => {
                return Err(malformed(
                    "verification material has more than one of publicKey, x509CertificateChain, certificate",
                ));
            }
        };
        if vm.tlog_entries.len() > MAX_ITEMS {
            return Err(malformed("too many transparency log entries"));
        }
        let entries = vm
            .tlog_entries
            .iter()
            .map(parse_entry)
            .collect::<Result<Vec<_>, _>>()?;
        let timestamps = match vm.timestamp_verification_data {
            None => Vec::new(),
            Some(data) => {
                if data.rfc3161_timestamps.len() > MAX_ITEMS {
                    return Err(malformed("too many RFC 3161 timestamps"));
                }
                data.rfc3161_timestamps
                    .iter()
                    .map(|t| b64("signedTimestamp", &t.signed_timestamp))
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(ms), None) => {
                let digest = match ms.message_digest {
                    None => None,
                    Some(d) => {
                        if d.algorithm != "SHA2_256" {
                            return Err(Error::Unsupported(format!(
                                "message digest algorithm {:?}",
                                d.algorithm
                            )));
                        }
                        Some(hash32("messageDigest", &d.digest)?)
                    }
                };
                Content::Message {
                    digest,
                    signature: b64("message signature", &ms.signature)?,
                }
            }
            (None, Some(env)) => {
                let [sig] = env.signatures.as_slice() else {
                    return Err(malformed(format!(
                        "the DSSE envelope has {} signatures; exactly one is supported",
                        env.signatures.len()
                    )));
                };
                Content::Dsse(Envelope {
                    payload: b64("DSSE payload", &env.payload)?,
                    payload_type: env.payload_type,
                    signature: b64("DSSE signature", &sig.sig)?,
                })
            }
            (None, None) => {
                return Err(malformed(
                    "bundle has neither a messageSignature nor a dsseEnvelope",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(malformed(
                    "bundle has both a messageSignature and a dsseEnvelope",
                ));
            }
        };
        Ok(Bundle {
            version,
            material,
            entries,
            timestamps,
            content,
        })
    }
}

fn parse_entry(raw: &RawEntry) -> Result<TlogEntry, Error> {
    let proof = match &raw.inclusion_proof {
        None => None,
        Some(p) => {
            if p.hashes.len() > MAX_PROOF_HASHES {
                return Err(malformed("inclusion proof has too many hashes"));
            }
            Some(InclusionProof {
                log_index: uint("inclusionProof.logIndex", &p.log_index)?,
                root: hash32("inclusionProof.rootHash", &p.root_hash)?,
                tree_size: uint("inclusionProof.treeSize", &p.tree_size)?,
                hashes: p
                    .hashes
                    .iter()
                    .map(|h| hash32("inclusionProof hash", h))
                    .collect::<Result<_, _>>()?,
                checkpoint: p.checkpoint.as_ref().map(|c| c.envelope.clone()),
            })
        }
    };
    let integrated_time = match &raw.integrated_time {
        None => None,
        Some(v) => match int("integratedTime", v)? {
            // Protobuf JSON writes a zero int64 as "0" or omits it; Rekor v2 has none.
            0 => None,
            t => Some(t),
        },
    };
    Ok(TlogEntry {
        log_index: uint("logIndex", &raw.log_index)?,
        log_id: b64("logId.keyId", &raw.log_id.key_id)?,
        kind: raw.kind_version.kind.clone(),
        version: raw.kind_version.version.clone(),
        integrated_time,
        set: raw
            .inclusion_promise
            .as_ref()
            .map(|p| b64("signedEntryTimestamp", &p.signed_entry_timestamp))
            .transpose()?,
        proof,
        body: b64("canonicalizedBody", &raw.canonicalized_body)?,
    })
}
