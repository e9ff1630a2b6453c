//! Rekor transparency-log entries: the entry body against the bundle (hashedrekord 0.0.1 and
//! 0.0.2, dsse 0.0.1 and 0.0.2, intoto 0.0.2), the signed entry timestamp (Rekor v1), and the
//! inclusion proof with its signed checkpoint (Rekor v1 and the tile-based Rekor v2), checked
//! with `cairn-verifier`'s RFC 6962 and signed-note code.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cairn_verifier::checkpoint::Checkpoint;
use cairn_verifier::note::{Ed25519Verifier, KeyName, Note, NoteVerifier};
use cairn_verifier::note_ecdsa::EcdsaVerifier;
use cairn_verifier::{Hash, leaf_hash, merkle};
use serde_json::Value;

use crate::Error;
use crate::bundle::{Content, TlogEntry};
use crate::crypto::{HashAlg, PublicKey};
use crate::dsse;
use crate::time::Timestamp;
use crate::trust_root::{LogInstance, TrustedRoot};

/// What the entry must bind: the signer's certificate or key and what it signed.
pub(crate) struct Expected<'a> {
    /// DER of the signing certificate, or of the SubjectPublicKeyInfo for key bundles.
    pub(crate) signer_der: &'a [u8],
    pub(crate) signer_is_cert: bool,
    pub(crate) content: &'a Content,
    pub(crate) artifact_sha256: [u8; 32],
}

/// The outcome of checking one entry.
#[derive(Debug)]
pub(crate) struct CheckedEntry {
    pub(crate) log_url: String,
    pub(crate) log_index: u64,
    pub(crate) tree_size: u64,
    pub(crate) origin: String,
    /// The integrated time, only when a signed entry timestamp covering it verified.
    pub(crate) integrated_time: Option<Timestamp>,
    pub(crate) log: LogInstance,
}

fn entry_err(m: impl Into<String>) -> Error {
    Error::TlogEntry(m.into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn get<'v>(v: &'v Value, path: &[&str]) -> Result<&'v Value, Error> {
    let mut cur = v;
    for key in path {
        cur = cur
            .get(key)
            .ok_or_else(|| entry_err(format!("entry body lacks {}", path.join("."))))?;
    }
    Ok(cur)
}

fn get_str<'v>(v: &'v Value, path: &[&str]) -> Result<&'v str, Error> {
    get(v, path)?.as_str().ok_or_else(|| {
        entry_err(format!(
            "entry body field {} is not a string",
            path.join(".")
        ))
    })
}

fn get_b64(v: &Value, path: &[&str]) -> Result<Vec<u8>, Error> {
    STANDARD
        .decode(get_str(v, path)?)
        .map_err(|_| entry_err(format!("entry body field {} is not base64", path.join("."))))
}

/// Decodes a PEM block (certificate or public key) to DER.
fn pem_der(pem: &[u8]) -> Result<Vec<u8>, Error> {
    crate::crypto::pem_decode(pem)
        .map(|(_, der)| der)
        .map_err(|e| {
            entry_err(format!(
                "entry body holds a key or certificate that is not PEM ({e})"
            ))
        })
}

impl Expected<'_> {
    fn check_signer_pem(&self, pem: &[u8]) -> Result<(), Error> {
        if pem_der(pem)? != self.signer_der {
            return Err(entry_err(format!(
                "the log entry names another {} than the bundle's",
                self.signer_what()
            )));
        }
        Ok(())
    }

    fn signer_what(&self) -> &'static str {
        if self.signer_is_cert {
            "certificate"
        } else {
            "public key"
        }
    }

    /// A Rekor v2 `verifier` object: `x509Certificate.rawBytes` or `publicKey.rawBytes`.
    fn check_signer_v2(&self, verifier: &Value) -> Result<(), Error> {
        let der = if self.signer_is_cert {
            get_b64(verifier, &["x509Certificate", "rawBytes"])?
        } else {
            get_b64(verifier, &["publicKey", "rawBytes"])?
        };
        if der != self.signer_der {
            return Err(entry_err(format!(
                "the log entry names another {} than the bundle's",
                self.signer_what()
            )));
        }
        Ok(())
    }

    fn message(&self) -> Result<&[u8], Error> {
        match self.content {
            Content::Message { signature, .. } => Ok(signature),
            Content::Dsse(_) => Err(entry_err(
                "a hashedrekord 0.0.1 entry cannot log a DSSE envelope",
            )),
        }
    }
}

/// Checks the entry body against the bundle; returns whether it is a Rekor v2 entry.
pub(crate) fn check_body(entry: &TlogEntry, exp: &Expected<'_>) -> Result<bool, Error> {
    let body: Value = serde_json::from_slice(&entry.body)
        .map_err(|_| entry_err("canonicalizedBody is not JSON"))?;
    let kind = get_str(&body, &["kind"])?;
    let version = get_str(&body, &["apiVersion"])?;
    if kind != entry.kind || version != entry.version {
        return Err(entry_err(format!(
            "the bundle says the entry is {} {} but its body is {kind} {version}",
            entry.kind, entry.version
        )));
    }
    let spec = get(&body, &["spec"])?;
    match (kind, version) {
        ("hashedrekord", "0.0.1") => {
            let signature = exp.message()?;
            let alg = get_str(spec, &["data", "hash", "algorithm"])?;
            let value = get_str(spec, &["data", "hash", "value"])?;
            if alg != "sha256" || value != hex(&exp.artifact_sha256) {
                return Err(Error::ArtifactMismatch(
                    "the log entry records a different artifact digest".to_owned(),
                ));
            }
            if get_b64(spec, &["signature", "content"])? != signature {
                return Err(entry_err("the log entry records a different signature"));
            }
            exp.check_signer_pem(&get_b64(spec, &["signature", "publicKey", "content"])?)?;
            Ok(false)
        }
        ("hashedrekord", "0.0.2") => {
            let inner = get(spec, &["hashedRekordV002"])?;
            let (digest, signature) = match exp.content {
                Content::Message { signature, .. } => (exp.artifact_sha256.to_vec(), signature),
                Content::Dsse(env) => (
                    HashAlg::Sha256.digest(&dsse::pae(&env.payload_type, &env.payload)),
                    &env.signature,
                ),
            };
            if get_str(inner, &["data", "algorithm"])? != "SHA2_256"
                || get_b64(inner, &["data", "digest"])? != digest
            {
                return Err(Error::ArtifactMismatch(
                    "the log entry records a different digest".to_owned(),
                ));
            }
            if get_b64(inner, &["signature", "content"])? != *signature {
                return Err(entry_err("the log entry records a different signature"));
            }
            exp.check_signer_v2(get(inner, &["signature", "verifier"])?)?;
            Ok(true)
        }
        ("dsse", "0.0.1") => {
            let Content::Dsse(env) = exp.content else {
                return Err(entry_err(
                    "a dsse entry logs a DSSE envelope, not a message",
                ));
            };
            check_hex_hash(spec, &["payloadHash"], &env.payload)?;
            let sigs = get(spec, &["signatures"])?
                .as_array()
                .ok_or_else(|| entry_err("entry body signatures is not a list"))?;
            let [sig] = sigs.as_slice() else {
                return Err(entry_err(
                    "the log entry records another number of signatures",
                ));
            };
            if get_b64(sig, &["signature"])? != env.signature {
                return Err(entry_err(
                    "the log entry records a different DSSE signature",
                ));
            }
            exp.check_signer_pem(&get_b64(sig, &["verifier"])?)?;
            Ok(false)
        }
        ("dsse", "0.0.2") => {
            let Content::Dsse(env) = exp.content else {
                return Err(entry_err(
                    "a dsse entry logs a DSSE envelope, not a message",
                ));
            };
            let inner = get(spec, &["dsseV002"])?;
            if get_str(inner, &["payloadHash", "algorithm"])? != "SHA2_256"
                || get_b64(inner, &["payloadHash", "digest"])?
                    != HashAlg::Sha256.digest(&env.payload)
            {
                return Err(Error::ArtifactMismatch(
                    "the log entry records a different DSSE payload".to_owned(),
                ));
            }
            let sigs = get(inner, &["signatures"])?
                .as_array()
                .ok_or_else(|| entry_err("entry body signatures is not a list"))?;
            let [sig] = sigs.as_slice() else {
                return Err(entry_err(
                    "the log entry records another number of signatures",
                ));
            };
            if get_b64(sig, &["content"])? != env.signature {
                return Err(entry_err(
                    "the log entry records a different DSSE signature",
                ));
            }
            exp.check_signer_v2(get(sig, &["verifier"])?)?;
            Ok(true)
        }
        ("intoto", "0.0.2") => {
            let Content::Dsse(env) = exp.content else {
                return Err(entry_err(
                    "an intoto entry logs a DSSE envelope, not a message",
                ));
            };
            let content = get(spec, &["content"])?;
            check_hex_hash(content, &["payloadHash"], &env.payload)?;
            let logged = get(content, &["envelope"])?;
            if get_str(logged, &["payloadType"])? != env.payload_type {
                return Err(entry_err("the log entry records a different payload type"));
            }
            if logged.get("payload").is_some() {
                // Rekor stores the envelope's base64 text base64-encoded once more.
                let once = get_b64(logged, &["payload"])?;
                if STANDARD.decode(&once).ok() != Some(env.payload.clone()) {
                    return Err(Error::ArtifactMismatch(
                        "the log entry records a different DSSE payload".to_owned(),
                    ));
                }
            }
            let sigs = get(logged, &["signatures"])?
                .as_array()
                .ok_or_else(|| entry_err("entry body signatures is not a list"))?;
            let [sig] = sigs.as_slice() else {
                return Err(entry_err(
                    "the log entry records another number of signatures",
                ));
            };
            let once = get_b64(sig, &["sig"])?;
            if STANDARD.decode(&once).ok() != Some(env.signature.clone()) {
                return Err(entry_err(
                    "the log entry records a different DSSE signature",
                ));
            }
            exp.check_signer_pem(&get_b64(sig, &["publicKey"])?)?;
            Ok(false)
        }
        _ => Err(Error::Unsupported(format!(
            "transparency log entries of kind {kind} {version}"
        ))),
    }
}

fn check_hex_hash(v: &Value, path: &[&str], data: &[u8]) -> Result<(), Error> {
    let obj = get(v, path)?;
    if get_str(obj, &["algorithm"])? != "sha256"
        || get_str(obj, &["value"])? != hex(&HashAlg::Sha256.digest(data))
    {
        return Err(Error::ArtifactMismatch(
            "the log entry records a different DSSE payload".to_owned(),
        ));
    }
    Ok(())
}

/// Verifies one entry: the log is in the trusted root, the body binds the bundle, the SET (if
/// any; required by version 0.1 bundles) and the inclusion proof with its checkpoint verify.
pub(crate) fn verify_entry(
    entry: &TlogEntry,
    exp: &Expected<'_>,
    root: &TrustedRoot,
    require_set: bool,
) -> Result<CheckedEntry, Error> {
    let log = root
        .tlogs
        .iter()
        .find(|l| l.log_id == entry.log_id)
        .ok_or_else(|| {
            entry_err(format!(
                "the entry is from a transparency log that is not in the trusted root (log ID {})",
                STANDARD.encode(&entry.log_id)
            ))
        })?;
    let key = log
        .key
        .as_ref()
        .map_err(|e| entry_err(format!("log {}: {e}", log.base_url)))?;
    let v2 = check_body(entry, exp)?;

    let mut integrated_time = None;
    match (&entry.set, v2) {
        (Some(set), false) => {
            let t = entry.integrated_time.ok_or_else(|| {
                entry_err("the entry has a signed entry timestamp but no integrated time")
            })?;
            let payload = format!(
                r#"{{"body":"{}","integratedTime":{t},"logID":"{}","logIndex":{}}}"#,
                STANDARD.encode(&entry.body),
                hex(&entry.log_id),
                entry.log_index
            );
            if !key.verify(payload.as_bytes(), set, HashAlg::Sha256) {
                return Err(entry_err(format!(
                    "the signed entry timestamp does not verify with the key of {}",
                    log.base_url
                )));
            }
            integrated_time = Some(Timestamp::from_unix(t));
        }
        (Some(_), true) => {
            return Err(entry_err(
                "a Rekor v2 entry cannot carry a signed entry timestamp",
            ));
        }
        (None, _) if require_set => {
            return Err(entry_err(
                "a version 0.1 bundle needs a signed entry timestamp (inclusionPromise)",
            ));
        }
        (None, _) => {}
    }

    let proof = entry.proof.as_ref().ok_or_else(|| {
        Error::Inclusion(
            "the entry has no inclusion proof; Cairn verifies offline and needs one".to_owned(),
        )
    })?;
    if v2 && proof.log_index != entry.log_index {
        return Err(Error::Inclusion(
            "the inclusion proof is for another index than the entry".to_owned(),
        ));
    }
    let hashes: Vec<Hash> = proof.hashes.iter().map(|h| Hash(*h)).collect();
    merkle::verify_inclusion(
        &leaf_hash(&entry.body),
        proof.log_index,
        proof.tree_size,
        &hashes,
        &Hash(proof.root),
    )
    .map_err(|e| Error::Inclusion(format!("the inclusion proof does not verify: {e}")))?;

    let envelope = proof.checkpoint.as_deref().ok_or_else(|| {
        Error::Inclusion("the inclusion proof has no signed checkpoint".to_owned())
    })?;
    let origin = verify_checkpoint(envelope, log, key, proof.tree_size, &proof.root)?;
    Ok(CheckedEntry {
        log_url: log.base_url.clone(),
        log_index: entry.log_index,
        tree_size: proof.tree_size,
        origin,
        integrated_time,
        log: log.clone(),
    })
}

/// Verifies the checkpoint a proof leads to: a signed note with a valid signature from the
/// log's key under the log's name (other signature lines, e.g. witness cosignatures, are
/// ignored), whose origin is the log's name (Rekor v2) or `NAME - TREE_ID` (a Rekor v1 shard),
/// and whose size and root are those of the proof.
fn verify_checkpoint(
    envelope: &str,
    log: &LogInstance,
    key: &PublicKey,
    tree_size: u64,
    root: &[u8; 32],
) -> Result<String, Error> {
    let bad = |m: String| Error::Inclusion(m);
    let name = KeyName::new(log.checkpoint_name()).map_err(|e| {
        bad(format!(
            "log {} has no usable checkpoint name: {e}",
            log.base_url
        ))
    })?;
    let verifier: Box<dyn NoteVerifier> = match key {
        PublicKey::Ed25519(_) => {
            let raw = key
                .ed25519_bytes()
                .ok_or_else(|| bad("Ed25519 key".to_owned()))?;
            Box::new(
                Ed25519Verifier::new(name.clone(), raw)
                    .map_err(|e| bad(format!("log key: {e}")))?,
            )
        }
        PublicKey::P256(_) => Box::new(
            EcdsaVerifier::new(name.clone(), &log.spki_der)
                .map_err(|e| bad(format!("log key: {e}")))?,
        ),
        PublicKey::P384(_) | PublicKey::Rsa(_) => {
            return Err(bad(format!(
                "checkpoints signed with {} keys ({}) are not supported",
                key.describe(),
                log.base_url
            )));
        }
    };
    let note = Note::parse(envelope.as_bytes())
        .map_err(|e| bad(format!("the checkpoint is not a signed note: {e}")))?;
    let verified = note.verify(&[verifier.as_ref()]).map_err(|e| {
        bad(format!(
            "the checkpoint has no valid signature by {} ({e})",
            log.base_url
        ))
    })?;
    let checkpoint = Checkpoint::parse(verified.text())
        .map_err(|e| bad(format!("the checkpoint does not parse: {e}")))?;
    let shard_prefix = format!("{} - ", name.as_str());
    if checkpoint.origin != name.as_str() && !checkpoint.origin.starts_with(&shard_prefix) {
        return Err(bad(format!(
            "the checkpoint's origin {:?} is not the log's name {:?}",
            checkpoint.origin,
            name.as_str()
        )));
    }
    if checkpoint.size != tree_size || checkpoint.root.0 != *root {
        return Err(bad(
            "the checkpoint's size and root are not those of the inclusion proof".to_owned(),
        ));
    }
    Ok(checkpoint.origin)
}
