//! DSSE envelopes (the pre-authentication encoding) and the in-toto statements they carry.

use serde::Deserialize;

use crate::Error;

/// The in-toto statement payload type.
pub(crate) const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

const STATEMENT_TYPES: &[&str] = &[
    "https://in-toto.io/Statement/v0.1",
    "https://in-toto.io/Statement/v1",
];

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII
/// decimal: the bytes a DSSE signature covers.
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// Checks that the in-toto statement names the artifact (by SHA-256) as one of its subjects;
/// returns the statement's predicate type.
pub(crate) fn check_statement(
    payload_type: &str,
    payload: &[u8],
    artifact_sha256: &[u8; 32],
) -> Result<String, Error> {
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Error::Unsupported(format!(
            "DSSE payload type {payload_type:?} (only in-toto statements name an artifact)"
        )));
    }
    let statement: Statement = serde_json::from_slice(payload).map_err(|e| {
        Error::MalformedBundle(format!("the DSSE payload is not an in-toto statement: {e}"))
    })?;
    if !STATEMENT_TYPES.contains(&statement.type_.as_str()) {
        return Err(Error::Unsupported(format!(
            "in-toto statement type {:?}",
            statement.type_
        )));
    }
    let want: String = artifact_sha256.iter().map(|b| format!("{b:02x}")).collect();
    if statement.subject.iter().any(|s| {
        s.digest
            .get("sha256")
            .is_some_and(|d| d.eq_ignore_ascii_case(&want))
    }) {
        Ok(statement.predicate_type)
    } else {
        Err(Error::ArtifactMismatch(format!(
            "the artifact (sha256:{want}) is not a subject of the signed in-toto statement"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // From the DSSE protocol description.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn statement_subject_must_match() {
        let digest = [0xab; 32];
        let hexd: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let stmt = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"a","digest":{{"sha256":"{hexd}"}}}}],"predicateType":"p"}}"#
        );
        assert_eq!(
            check_statement(IN_TOTO_PAYLOAD_TYPE, stmt.as_bytes(), &digest).expect("match"),
            "p"
        );
        assert!(check_statement(IN_TOTO_PAYLOAD_TYPE, stmt.as_bytes(), &[0; 32]).is_err());
        assert!(check_statement("text/plain", stmt.as_bytes(), &digest).is_err());
    }
}
