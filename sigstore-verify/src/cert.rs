//! X.509: the Fulcio signing certificate (identity, issuer, key usage), its chain to a
//! certificate authority of the trusted root, and its embedded SCTs (RFC 6962 section 3.3).

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280;
use der::{Decode as _, Encode as _, Reader as _};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

use crate::Error;
use crate::crypto::{HashAlg, PublicKey};
use crate::time::Timestamp;
use crate::trust_root::{CertAuthority, TrustedRoot};

/// Fulcio's OIDC issuer extension (v1, deprecated): the issuer URL as raw bytes.
const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer extension (v2): a DER UTF8String.
const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// RFC 6962 embedded SCT list.
const OID_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// The bytes of the TBSCertificate exactly as they were signed.
pub(crate) fn tbs_bytes(cert_der: &[u8]) -> Result<&[u8], String> {
    let outer = der::asn1::AnyRef::from_der(cert_der).map_err(|e| e.to_string())?;
    let mut reader = der::SliceReader::new(outer.value()).map_err(|e| e.to_string())?;
    reader.tlv_bytes().map_err(|e| e.to_string())
}

/// Whether `issuer` signed `cert`: names chain and the signature over the TBS verifies.
pub(crate) fn is_signed_by(
    cert: &Certificate,
    cert_der: &[u8],
    issuer: &Certificate,
) -> Result<(), String> {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err("issuer name does not match".to_owned());
    }
    if cert.signature_algorithm != cert.tbs_certificate.signature {
        return Err("certificate signature algorithms disagree".to_owned());
    }
    let key = cert_key(issuer)?;
    let sig = cert
        .signature
        .as_bytes()
        .ok_or("signature bit string has unused bits")?;
    let tbs = tbs_bytes(cert_der)?;
    if key.verify_with_oid(&cert.signature_algorithm.oid, tbs, sig)? {
        Ok(())
    } else {
        Err("signature does not verify".to_owned())
    }
}

/// Whether every time lies in the certificate's notBefore..=notAfter.
pub(crate) fn valid_at(cert: &Certificate, times: &[Timestamp]) -> Result<(), String> {
    let v = &cert.tbs_certificate.validity;
    let not_before = Timestamp::from_x509(&v.not_before);
    let not_after = Timestamp::from_x509(&v.not_after);
    for &t in times {
        if t < not_before || t > not_after {
            return Err(format!(
                "time {t} is outside the certificate's validity {not_before} to {not_after}"
            ));
        }
    }
    Ok(())
}

fn is_ca(cert: &Certificate) -> bool {
    extensions(cert).any(|e| {
        e.extn_id == rfc5280::ID_CE_BASIC_CONSTRAINTS
            && BasicConstraints::from_der(e.extn_value.as_bytes()).is_ok_and(|b| b.ca)
    })
}

fn extensions(cert: &Certificate) -> impl Iterator<Item = &x509_cert::ext::Extension> {
    cert.tbs_certificate.extensions.iter().flatten()
}

/// Verifies a trusted-root chain (leaf-most first) at the given times: each certificate is
/// signed by the next and valid at every time, and every certificate above the first is a CA.
/// The last certificate is the trust anchor.
pub(crate) fn verify_authority_chain(
    ca: &CertAuthority,
    times: &[Timestamp],
) -> Result<(), String> {
    for (i, cert) in ca.chain.iter().enumerate() {
        valid_at(cert, times).map_err(|e| format!("certificate {i} of the chain: {e}"))?;
        if i > 0 && !is_ca(cert) {
            return Err(format!("certificate {i} of the chain is not a CA"));
        }
        if let Some(parent) = ca.chain.get(i + 1) {
            is_signed_by(cert, &ca.chain_der[i], parent)
                .map_err(|e| format!("certificate {i} of the chain: {e}"))?;
        }
    }
    Ok(())
}

/// The Fulcio signing certificate, parsed and checked for its own properties.
#[derive(Debug)]
pub(crate) struct Leaf {
    pub(crate) cert: Certificate,
    pub(crate) der: Vec<u8>,
    pub(crate) key: PublicKey,
    pub(crate) sans: Vec<String>,
    pub(crate) issuer: String,
}

impl Leaf {
    pub(crate) fn parse(der: Vec<u8>) -> Result<Leaf, Error> {
        let bad = |m: String| Error::Certificate(m);
        let cert = Certificate::from_der(&der)
            .map_err(|e| bad(format!("the signing certificate does not parse: {e}")))?;
        let tbs = &cert.tbs_certificate;
        if tbs.version != x509_cert::Version::V3 {
            return Err(bad("the signing certificate is not X.509 v3".to_owned()));
        }
        let spki_der = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| bad(e.to_string()))?;
        let key = PublicKey::from_spki_der(&spki_der)
            .map_err(|e| bad(format!("the signing certificate's key: {e}")))?;
        let mut sans = Vec::new();
        let mut issuer_v1 = None;
        let mut issuer_v2 = None;
        let mut key_usage_ok = false;
        let mut code_signing = false;
        for ext in extensions(&cert) {
            let value = ext.extn_value.as_bytes();
            match ext.extn_id {
                rfc5280::ID_CE_SUBJECT_ALT_NAME => {
                    let san = SubjectAltName::from_der(value)
                        .map_err(|e| bad(format!("subjectAltName does not parse: {e}")))?;
                    for name in san.0 {
                        match name {
                            GeneralName::UniformResourceIdentifier(uri) => {
                                sans.push(uri.as_str().to_owned());
                            }
                            GeneralName::Rfc822Name(email) => sans.push(email.as_str().to_owned()),
                            _ => {}
                        }
                    }
                }
                rfc5280::ID_CE_KEY_USAGE => {
                    let ku = KeyUsage::from_der(value)
                        .map_err(|e| bad(format!("keyUsage does not parse: {e}")))?;
                    key_usage_ok = ku.digital_signature();
                }
                rfc5280::ID_CE_EXT_KEY_USAGE => {
                    let eku = ExtendedKeyUsage::from_der(value)
                        .map_err(|e| bad(format!("extKeyUsage does not parse: {e}")))?;
                    code_signing = eku.0.contains(&rfc5280::ID_KP_CODE_SIGNING);
                }
                rfc5280::ID_CE_BASIC_CONSTRAINTS => {
                    let bc = BasicConstraints::from_der(value)
                        .map_err(|e| bad(format!("basicConstraints does not parse: {e}")))?;
                    if bc.ca {
                        return Err(bad("the signing certificate is a CA certificate".to_owned()));
                    }
                }
                OID_ISSUER_V1 => {
                    issuer_v1 = Some(String::from_utf8(value.to_vec()).map_err(|_| {
                        bad(
                            "the OIDC issuer extension (1.3.6.1.4.1.57264.1.1) is not UTF-8"
                                .to_owned(),
                        )
                    })?);
                }
                OID_ISSUER_V2 => {
                    let s = der::asn1::Utf8StringRef::from_der(value).map_err(|_| {
                        bad(
                            "the OIDC issuer extension (1.3.6.1.4.1.57264.1.8) is not a UTF8String"
                                .to_owned(),
                        )
                    })?;
                    issuer_v2 = Some(s.as_str().to_owned());
                }
                other => {
                    let known = [
                        rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
                        rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                        OID_SCT_LIST,
                    ];
                    let fulcio = other
                        .as_bytes()
                        .starts_with(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01]);
                    if ext.critical && !known.contains(&other) && !fulcio {
                        return Err(bad(format!(
                            "the signing certificate has an unknown critical extension {other}"
                        )));
                    }
                }
            }
        }
        if !key_usage_ok {
            return Err(bad(
                "the signing certificate's key usage does not include digitalSignature".to_owned(),
            ));
        }
        if !code_signing {
            return Err(bad(
                "the signing certificate's extended key usage does not include codeSigning"
                    .to_owned(),
            ));
        }
        let issuer = match (issuer_v1, issuer_v2) {
            (Some(a), Some(b)) if a != b => {
                return Err(bad(format!(
                    "the certificate's two OIDC issuer extensions disagree ({a:?} and {b:?})"
                )));
            }
            (_, Some(i)) | (Some(i), None) => i,
            (None, None) => {
                return Err(bad(
                    "the signing certificate has no OIDC issuer extension".to_owned()
                ));
            }
        };
        if sans.is_empty() {
            return Err(bad(
                "the signing certificate has no URI or email subject alternative name".to_owned(),
            ));
        }
        Ok(Leaf {
            cert,
            der,
            key,
            sans,
            issuer,
        })
    }

    /// Finds a certificate authority of the trusted root that issued this certificate and whose
    /// `validFor` and certificates cover every time; checks the leaf's own validity too.
    pub(crate) fn verify_chain<'r>(
        &self,
        root: &'r TrustedRoot,
        times: &[Timestamp],
    ) -> Result<&'r CertAuthority, Error> {
        valid_at(&self.cert, times)
            .map_err(|e| Error::Certificate(format!("signing certificate: {e}")))?;
        let mut reasons = Vec::new();
        for ca in &root.cas {
            let Some(issuer) = ca.chain.first() else {
                continue;
            };
            if let Err(e) = is_signed_by(&self.cert, &self.der, issuer) {
                if e != "issuer name does not match" {
                    reasons.push(format!("{}: {e}", ca.uri));
                }
                continue;
            }
            if let Some(t) = times.iter().find(|t| !ca.valid.contains(**t)) {
                reasons.push(format!(
                    "{}: time {t} is outside the authority's validFor in the trusted root",
                    ca.uri
                ));
                continue;
            }
            match verify_authority_chain(ca, times) {
                Ok(()) => return Ok(ca),
                Err(e) => reasons.push(format!("{}: {e}", ca.uri)),
            }
        }
        Err(Error::Certificate(if reasons.is_empty() {
            "the signing certificate was not issued by a certificate authority of the trusted root"
                .to_owned()
        } else {
            format!(
                "the signing certificate does not chain to the trusted root ({})",
                reasons.join("; ")
            )
        }))
    }

    /// Verifies the embedded SCTs: at least one from a CT log of the trusted root (valid at the
    /// SCT's time) must verify, and none claiming a trusted log may fail.
    pub(crate) fn verify_scts(
        &self,
        issuer: &Certificate,
        root: &TrustedRoot,
    ) -> Result<usize, Error> {
        let bad = |m: String| Error::Sct(m);
        let ext = extensions(&self.cert)
            .find(|e| e.extn_id == OID_SCT_LIST)
            .ok_or_else(|| bad("the signing certificate has no embedded SCT".to_owned()))?;
        let list = der::asn1::OctetStringRef::from_der(ext.extn_value.as_bytes())
            .map_err(|_| bad("the SCT list extension is not an OCTET STRING".to_owned()))?;
        let scts = parse_sct_list(list.as_bytes()).map_err(bad)?;
        // The precertificate TBS: the certificate's TBS without the SCT list extension.
        let mut tbs = self.cert.tbs_certificate.clone();
        if let Some(exts) = tbs.extensions.as_mut() {
            exts.retain(|e| e.extn_id != OID_SCT_LIST);
        }
        let tbs_der = tbs.to_der().map_err(|e| bad(e.to_string()))?;
        let issuer_spki = issuer
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| bad(e.to_string()))?;
        let issuer_key_hash = HashAlg::Sha256.digest(&issuer_spki);
        let mut verified = 0;
        for sct in &scts {
            let Some(log) = root.ctlogs.iter().find(|l| l.log_id == sct.log_id) else {
                continue;
            };
            let key = log
                .key
                .as_ref()
                .map_err(|e| bad(format!("SCT from {}: {e}", log.base_url)))?;
            let t = Timestamp::from_unix_millis(sct.timestamp);
            if !log.valid.contains(t) {
                return Err(bad(format!(
                    "SCT from {} at {t} is outside the log's validFor in the trusted root",
                    log.base_url
                )));
            }
            let mut signed = Vec::with_capacity(tbs_der.len() + 64);
            signed.push(0); // version v1
            signed.push(0); // signature_type certificate_timestamp
            signed.extend_from_slice(&sct.timestamp.to_be_bytes());
            signed.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
            signed.extend_from_slice(&issuer_key_hash);
            let tbs_len = u32::try_from(tbs_der.len())
                .ok()
                .filter(|l| *l < (1 << 24))
                .ok_or_else(|| bad("precertificate too large".to_owned()))?;
            signed.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
            signed.extend_from_slice(&tbs_der);
            let ext_len = u16::try_from(sct.extensions.len())
                .map_err(|_| bad("SCT extensions too large".to_owned()))?;
            signed.extend_from_slice(&ext_len.to_be_bytes());
            signed.extend_from_slice(&sct.extensions);
            let hash = match sct.hash_alg {
                4 => HashAlg::Sha256,
                5 => HashAlg::Sha384,
                6 => HashAlg::Sha512,
                other => return Err(bad(format!("SCT uses unsupported hash algorithm {other}"))),
            };
            if !key.verify(&signed, &sct.signature, hash) {
                return Err(bad(format!(
                    "the SCT from CT log {} does not verify",
                    log.base_url
                )));
            }
            verified += 1;
        }
        if verified == 0 {
            return Err(bad(
                "no embedded SCT is from a CT log of the trusted root".to_owned()
            ));
        }
        Ok(verified)
    }
}

#[derive(Debug)]
struct Sct {
    log_id: Vec<u8>,
    timestamp: u64,
    extensions: Vec<u8>,
    hash_alg: u8,
    signature: Vec<u8>,
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("SCT list is truncated".to_owned());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, String> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn vec16(&mut self) -> Result<&'a [u8], String> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn parse_sct_list(bytes: &[u8]) -> Result<Vec<Sct>, String> {
    let mut outer = Cursor(bytes);
    let mut list = Cursor(outer.vec16()?);
    if !outer.0.is_empty() {
        return Err("trailing bytes after the SCT list".to_owned());
    }
    let mut scts = Vec::new();
    while !list.0.is_empty() {
        let mut c = Cursor(list.vec16()?);
        let version = c.u8()?;
        if version != 0 {
            return Err(format!("SCT version {version} is not supported"));
        }
        let log_id = c.take(32)?.to_vec();
        let ts = c.take(8)?;
        let timestamp = u64::from_be_bytes(ts.try_into().map_err(|_| "SCT timestamp")?);
        let extensions = c.vec16()?.to_vec();
        let hash_alg = c.u8()?;
        let sig_alg = c.u8()?;
        if sig_alg != 3 {
            return Err(format!("SCT signature algorithm {sig_alg} is not ECDSA"));
        }
        let signature = c.vec16()?.to_vec();
        if !c.0.is_empty() {
            return Err("trailing bytes after an SCT".to_owned());
        }
        scts.push(Sct {
            log_id,
            timestamp,
            extensions,
            hash_alg,
            signature,
        });
        if scts.len() > 16 {
            return Err("too many SCTs".to_owned());
        }
    }
    Ok(scts)
}

/// Checks that a timestamp authority's signing certificate may sign timestamps.
pub(crate) fn has_timestamping_eku(cert: &Certificate) -> bool {
    extensions(cert).any(|e| {
        e.extn_id == rfc5280::ID_CE_EXT_KEY_USAGE
            && ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
                .is_ok_and(|eku| eku.0.contains(&rfc5280::ID_KP_TIME_STAMPING))
    })
}

/// The DER SubjectPublicKeyInfo of a certificate, parsed as a key.
pub(crate) fn cert_key(cert: &Certificate) -> Result<PublicKey, String> {
    let der = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    PublicKey::from_spki_der(&der)
}
