//! RFC 3161 timestamps: a CMS SignedData over a TSTInfo, signed by a timestamp authority of the
//! trusted root, over a hash of the bundle's signature.

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode as _, Encode as _, Reader as _, Tag, Tagged as _};
use spki::AlgorithmIdentifierOwned;

use crate::Error;
use crate::cert::{cert_key, has_timestamping_eku, valid_at, verify_authority_chain};
use crate::crypto::HashAlg;
use crate::time::Timestamp;
use crate::trust_root::TrustedRoot;

/// id-ct-TSTInfo.
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// Largest timestamp accepted, in bytes.
const MAX_TIMESTAMP_SIZE: usize = 64 * 1024;

fn bad(m: impl Into<String>) -> Error {
    Error::Timestamp(m.into())
}

fn der_err(what: &str) -> impl Fn(der::Error) -> Error + '_ {
    move |e| bad(format!("{what}: {e}"))
}

/// Verifies one RFC 3161 timestamp (a TimeStampResp or a bare TimeStampToken) over
/// `signature`, returning the time it attests.
pub(crate) fn verify_timestamp(
    token: &[u8],
    signature: &[u8],
    root: &TrustedRoot,
) -> Result<Timestamp, Error> {
    if token.len() > MAX_TIMESTAMP_SIZE {
        return Err(bad("the RFC 3161 timestamp is too large"));
    }
    let content_info_der = token_bytes(token)?;
    let ci = ContentInfo::from_der(content_info_der).map_err(der_err("timestamp token"))?;
    if ci.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(bad("the timestamp token is not CMS SignedData"));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(der_err("timestamp SignedData"))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(bad("the timestamp token does not carry a TSTInfo"));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| bad("the timestamp token has no content"))?;
    let tst_der = OctetStringRef::try_from(econtent)
        .map_err(der_err("timestamp content"))?
        .as_bytes();
    let tst = parse_tst_info(tst_der)?;

    // The timestamp must be over this bundle's signature.
    let imprint_alg = HashAlg::from_oid(&tst.imprint_alg.oid)
        .ok_or_else(|| bad("unsupported message imprint hash algorithm"))?;
    if imprint_alg.digest(signature) != tst.imprint {
        return Err(bad(
            "the timestamp is not over the bundle's signature (message imprint differs)",
        ));
    }

    let [signer] = sd.signer_infos.0.as_slice() else {
        return Err(bad("the timestamp must have exactly one signer"));
    };
    let digest_alg = HashAlg::from_oid(&signer.digest_alg.oid)
        .ok_or_else(|| bad("unsupported timestamp digest algorithm"))?;
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("the timestamp signer has no signed attributes"))?;
    let mut content_type_ok = false;
    let mut digest_ok = false;
    for attr in attrs.iter() {
        let [value] = attr.values.as_slice() else {
            return Err(bad("a signed attribute has more than one value"));
        };
        if attr.oid == rfc5911::ID_CONTENT_TYPE {
            let oid: ObjectIdentifier = value.decode_as().map_err(der_err("content type"))?;
            content_type_ok = oid == ID_CT_TST_INFO;
        } else if attr.oid == rfc5911::ID_MESSAGE_DIGEST {
            let d = OctetStringRef::try_from(value).map_err(der_err("message digest"))?;
            digest_ok = d.as_bytes() == digest_alg.digest(tst_der).as_slice();
        }
    }
    if !content_type_ok {
        return Err(bad("the timestamp's signed content type is not TSTInfo"));
    }
    if !digest_ok {
        return Err(bad(
            "the timestamp's signed message digest does not match its content",
        ));
    }
    let signed = attrs.to_der().map_err(der_err("signed attributes"))?;
    let sig_alg = match signer.signature_algorithm.oid {
        // Some authorities name only the key type; the digest is then the signer's.
        rfc5912::ID_EC_PUBLIC_KEY => match digest_alg {
            HashAlg::Sha256 => rfc5912::ECDSA_WITH_SHA_256,
            HashAlg::Sha384 => rfc5912::ECDSA_WITH_SHA_384,
            HashAlg::Sha512 => rfc5912::ECDSA_WITH_SHA_512,
        },
        other => other,
    };
    let sig = signer.signature.as_bytes();

    let time = tst.gen_time;
    let mut reasons = Vec::new();
    for tsa in &root.tsas {
        let Some(leaf) = tsa.chain.first() else {
            continue;
        };
        let Ok(key) = cert_key(leaf) else {
            continue;
        };
        if !key.verify_with_oid(&sig_alg, &signed, sig).unwrap_or(false) {
            continue;
        }
        // Signed by this authority: now its validity at the attested time.
        if !tsa.valid.contains(time) {
            reasons.push(format!(
                "{}: time {time} is outside the authority's validFor in the trusted root",
                tsa.uri
            ));
            continue;
        }
        if !has_timestamping_eku(leaf) {
            reasons.push(format!(
                "{}: the signing certificate is not for time stamping",
                tsa.uri
            ));
            continue;
        }
        if let Err(e) = valid_at(leaf, &[time]).and_then(|()| verify_authority_chain(tsa, &[time]))
        {
            reasons.push(format!("{}: {e}", tsa.uri));
            continue;
        }
        return Ok(time);
    }
    Err(bad(if reasons.is_empty() {
        "the timestamp is not signed by a timestamp authority of the trusted root".to_owned()
    } else {
        reasons.join("; ")
    }))
}

/// The TimeStampToken (ContentInfo) inside a TimeStampResp, or the input if it is one.
fn token_bytes(input: &[u8]) -> Result<&[u8], Error> {
    let outer = AnyRef::from_der(input).map_err(der_err("timestamp"))?;
    if outer.tag() != Tag::Sequence {
        return Err(bad("the timestamp is not a DER SEQUENCE"));
    }
    let mut r = der::SliceReader::new(outer.value()).map_err(der_err("timestamp"))?;
    let first = AnyRef::decode(&mut r).map_err(der_err("timestamp"))?;
    if first.tag() == Tag::ObjectIdentifier {
        // Already a ContentInfo.
        return Ok(input);
    }
    // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL }
    let mut status = der::SliceReader::new(first.value()).map_err(der_err("timestamp status"))?;
    let code: u8 = status.decode().map_err(der_err("timestamp status"))?;
    if code > 1 {
        return Err(bad(format!(
            "the timestamp response has status {code}, not granted"
        )));
    }
    let token = r.tlv_bytes().map_err(der_err("timestamp token"))?;
    if !r.is_finished() {
        return Err(bad("trailing data after the timestamp token"));
    }
    Ok(token)
}

struct TstInfo {
    imprint_alg: AlgorithmIdentifierOwned,
    imprint: Vec<u8>,
    gen_time: Timestamp,
}

/// TSTInfo ::= SEQUENCE { version INTEGER { v1(1) }, policy, messageImprint, serialNumber,
/// genTime GeneralizedTime, ... }. The optional fields after genTime are not needed.
fn parse_tst_info(der_bytes: &[u8]) -> Result<TstInfo, Error> {
    let outer = AnyRef::from_der(der_bytes).map_err(der_err("TSTInfo"))?;
    if outer.tag() != Tag::Sequence {
        return Err(bad("TSTInfo is not a SEQUENCE"));
    }
    let mut r = der::SliceReader::new(outer.value()).map_err(der_err("TSTInfo"))?;
    let version: u8 = r.decode().map_err(der_err("TSTInfo version"))?;
    if version != 1 {
        return Err(bad(format!("TSTInfo version {version} is not 1")));
    }
    let _policy: ObjectIdentifier = r.decode().map_err(der_err("TSTInfo policy"))?;
    let imprint = AnyRef::decode(&mut r).map_err(der_err("TSTInfo messageImprint"))?;
    let mut ir = der::SliceReader::new(imprint.value()).map_err(der_err("messageImprint"))?;
    let imprint_alg: AlgorithmIdentifierOwned = ir.decode().map_err(der_err("messageImprint"))?;
    let hashed: OctetStringRef<'_> = ir.decode().map_err(der_err("messageImprint"))?;
    let serial = AnyRef::decode(&mut r).map_err(der_err("TSTInfo serialNumber"))?;
    if serial.tag() != Tag::Integer {
        return Err(bad("TSTInfo serialNumber is not an INTEGER"));
    }
    let gen_any = AnyRef::decode(&mut r).map_err(der_err("TSTInfo genTime"))?;
    if gen_any.tag() != Tag::GeneralizedTime {
        return Err(bad("TSTInfo genTime is not a GeneralizedTime"));
    }
    let gen_time = Timestamp::parse_generalized(gen_any.value()).map_err(bad)?;
    Ok(TstInfo {
        imprint_alg,
        imprint: hashed.as_bytes().to_vec(),
        gen_time,
    })
}
