//! Public keys and signature checks, from DER SubjectPublicKeyInfo: ECDSA P-256 and P-384 (any
//! SHA-2 digest) and Ed25519, the algorithms of the Sigstore public-good instance, and RSA
//! PKCS#1 v1.5 (2048 bits or more) for certificate chains of private deployments.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::Decode;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::Digest as _;
use spki::SubjectPublicKeyInfoRef;

const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A SHA-2 digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// From a digest algorithm OID (id-sha256, id-sha384, id-sha512).
    pub(crate) fn from_oid(oid: &ObjectIdentifier) -> Option<HashAlg> {
        match *oid {
            rfc5912::ID_SHA_256 => Some(HashAlg::Sha256),
            rfc5912::ID_SHA_384 => Some(HashAlg::Sha384),
            rfc5912::ID_SHA_512 => Some(HashAlg::Sha512),
            _ => None,
        }
    }
}

/// A public key that can check signatures.
#[derive(Clone)]
pub(crate) enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// Decodes one PEM block, returning its label and DER bytes. Lenient about line length (Rekor
/// stores certificates as one long base64 line), strict about everything else.
pub(crate) fn pem_decode(text: &[u8]) -> Result<(String, Vec<u8>), String> {
    use base64::Engine as _;
    let text = std::str::from_utf8(text).map_err(|_| "PEM is not UTF-8".to_owned())?;
    let text = text.trim();
    let first = text.lines().next().unwrap_or_default().trim_end();
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or("no PEM BEGIN line")?;
    let end = format!("-----END {label}-----");
    let body = text
        .strip_prefix(first)
        .and_then(|rest| rest.trim_end().strip_suffix(end.as_str()))
        .ok_or("no matching PEM END line")?;
    let b64: String = body.split_ascii_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "PEM body is not base64".to_owned())?;
    Ok((label.to_owned(), der))
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub(crate) fn from_spki_der(der: &[u8]) -> Result<PublicKey, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| format!("not a DER SubjectPublicKeyInfo: {e}"))?;
        Self::from_spki(&spki)
    }

    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<PublicKey, String> {
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or("public key bit string has unused bits")?;
        let alg = spki.algorithm.oid;
        if alg == rfc5912::ID_EC_PUBLIC_KEY {
            let curve: ObjectIdentifier = spki
                .algorithm
                .parameters
                .ok_or("EC key without a named curve")?
                .decode_as()
                .map_err(|_| "EC key parameters are not a named curve")?;
            match curve {
                rfc5912::SECP_256_R_1 => p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                    .map(PublicKey::P256)
                    .map_err(|_| "P-256 public key is not a point on the curve".to_owned()),
                rfc5912::SECP_384_R_1 => p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                    .map(PublicKey::P384)
                    .map_err(|_| "P-384 public key is not a point on the curve".to_owned()),
                other => Err(format!("unsupported elliptic curve {other}")),
            }
        } else if alg == ED25519_OID {
            if spki.algorithm.parameters.is_some() {
                return Err("Ed25519 key with algorithm parameters".to_owned());
            }
            let bytes: [u8; 32] = key_bytes
                .try_into()
                .map_err(|_| "Ed25519 public key is not 32 bytes")?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map(PublicKey::Ed25519)
                .map_err(|_| "Ed25519 public key is not a valid point".to_owned())
        } else if alg == rfc5912::RSA_ENCRYPTION {
            use rsa::pkcs1::DecodeRsaPublicKey as _;
            use rsa::traits::PublicKeyParts as _;
            let key = rsa::RsaPublicKey::from_pkcs1_der(key_bytes)
                .map_err(|_| "RSA public key does not parse".to_owned())?;
            if key.n().bits() < MIN_RSA_BITS {
                return Err(format!("RSA keys under {MIN_RSA_BITS} bits are refused"));
            }
            Ok(PublicKey::Rsa(key))
        } else {
            Err(format!("unsupported public key algorithm {alg}"))
        }
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self {
            PublicKey::P256(_) => "ECDSA P-256",
            PublicKey::P384(_) => "ECDSA P-384",
            PublicKey::Ed25519(_) => "Ed25519",
            PublicKey::Rsa(_) => "RSA",
        }
    }

    /// The raw Ed25519 key, for note verifiers.
    pub(crate) fn ed25519_bytes(&self) -> Option<[u8; 32]> {
        match self {
            PublicKey::Ed25519(k) => Some(k.to_bytes()),
            _ => None,
        }
    }

    /// The digest the key's algorithm signs with by default (Sigstore's key details:
    /// ECDSA P-256 with SHA-256, P-384 with SHA-384).
    pub(crate) fn default_hash(&self) -> HashAlg {
        match self {
            PublicKey::P384(_) => HashAlg::Sha384,
            _ => HashAlg::Sha256,
        }
    }

    /// Verifies `sig` over `message`: an ECDSA DER signature over `hash(message)`, or a pure
    /// Ed25519 signature over `message` (`hash` is ignored).
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8], hash: HashAlg) -> bool {
        match self {
            PublicKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_strict(message, &s).is_ok()),
            PublicKey::Rsa(k) => {
                let scheme = match hash {
                    HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                k.verify(scheme, &hash.digest(message), sig).is_ok()
            }
            _ => self.verify_prehash(&hash.digest(message), sig),
        }
    }

    /// Verifies an ECDSA DER signature over a precomputed digest. Ed25519 signs messages, not
    /// digests, so it always fails here.
    pub(crate) fn verify_prehash(&self, digest: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::P256(k) => p256::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
            PublicKey::P384(k) => p384::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
            PublicKey::Ed25519(_) | PublicKey::Rsa(_) => false,
        }
    }

    /// Verifies an X.509/CMS signature given its algorithm identifier OID.
    pub(crate) fn verify_with_oid(
        &self,
        alg: &ObjectIdentifier,
        message: &[u8],
        sig: &[u8],
    ) -> Result<bool, String> {
        let hash = match *alg {
            rfc5912::ECDSA_WITH_SHA_256 => HashAlg::Sha256,
            rfc5912::ECDSA_WITH_SHA_384 => HashAlg::Sha384,
            rfc5912::ECDSA_WITH_SHA_512 => HashAlg::Sha512,
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION
            | rfc5912::SHA_384_WITH_RSA_ENCRYPTION
            | rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
                let hash = match *alg {
                    rfc5912::SHA_256_WITH_RSA_ENCRYPTION => HashAlg::Sha256,
                    rfc5912::SHA_384_WITH_RSA_ENCRYPTION => HashAlg::Sha384,
                    _ => HashAlg::Sha512,
                };
                return Ok(matches!(self, PublicKey::Rsa(_)) && self.verify(message, sig, hash));
            }
            ED25519_OID => {
                return Ok(matches!(self, PublicKey::Ed25519(_))
                    && self.verify(message, sig, HashAlg::Sha512));
            }
            other => return Err(format!("unsupported signature algorithm {other}")),
        };
        if !matches!(self, PublicKey::P256(_) | PublicKey::P384(_)) {
            return Ok(false);
        }
        Ok(self.verify(message, sig, hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn parses_the_key_types_of_the_public_good_root() {
        // Rekor v1 (P-256) and Rekor v2 (Ed25519) keys of trusted_root.production.json.
        let p256 = STANDARD
            .decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==")
            .expect("b64");
        assert_eq!(
            PublicKey::from_spki_der(&p256).expect("p256").describe(),
            "ECDSA P-256"
        );
        let ed = STANDARD
            .decode("MCowBQYDK2VwAyEAt8rlp1knGwjfbcXAYPYAkn0XiLz1x8O4t0YkEhie244=")
            .expect("b64");
        assert!(
            PublicKey::from_spki_der(&ed)
                .expect("ed25519")
                .ed25519_bytes()
                .is_some()
        );
        assert!(PublicKey::from_spki_der(&ed[..ed.len() - 1]).is_err());
        assert!(PublicKey::from_spki_der(b"").is_err());
    }
}

#[cfg(test)]
mod pem_tests {
    use super::pem_decode;

    #[test]
    fn pem_with_long_or_wrapped_lines() {
        let one_line = b"-----BEGIN PUBLIC KEY-----\nAAECAw==\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            pem_decode(one_line).expect("pem"),
            ("PUBLIC KEY".to_owned(), vec![0, 1, 2, 3])
        );
        let wrapped = b"-----BEGIN CERTIFICATE-----\r\nAAEC\r\nAw==\r\n-----END CERTIFICATE-----";
        assert_eq!(pem_decode(wrapped).expect("pem").1, vec![0, 1, 2, 3]);
    }

    #[test]
    fn mismatched_or_broken_pem_is_refused() {
        assert!(pem_decode(b"-----BEGIN A-----\nAAEC\n-----END B-----\n").is_err());
        assert!(pem_decode(b"-----BEGIN A-----\nA!EC\n-----END A-----\n").is_err());
        assert!(pem_decode(b"AAEC").is_err());
    }
}
