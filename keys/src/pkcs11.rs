//! Ed25519 keys in a PKCS#11 token, named by an RFC 7512 `pkcs11:` URI.
//!
//! The key is a `CKO_PRIVATE_KEY` of type `CKK_EC_EDWARDS` on the curve Ed25519; it signs with
//! `CKM_EDDSA` without parameters (pure Ed25519, RFC 8032), which is exactly the signature a
//! Cairn key file makes. The public key is read from the matching `CKO_PUBLIC_KEY`'s
//! `CKA_EC_POINT` (a DER OCTET STRING holding the 32-byte RFC 8032 encoding; some modules
//! return the 32 bytes bare, which is accepted too).
//!
//! URI attributes understood (RFC 7512 section 2.3): in the path `token`, `manufacturer`,
//! `serial`, `model`, `slot-id` (which token), `object`, `id` (which key; at least one), `type`
//! (only `private`); in the query `module-path` (required: which module to load), `pin-source`
//! (`file:PATH` or an absolute path) and `pin-value`. Other standard attributes are refused
//! rather than ignored, so a URI never selects something other than what it says; vendor
//! attributes (`x-...`) are ignored, as the RFC allows.
//!
//! A signing failure (token removed, session closed, module error) drops the session; the next
//! signature opens a new one, finds the key again and checks it is still the same public key,
//! so a long-running server recovers by itself when the token is back.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cairn_verifier::signer::{Ed25519Key, SignError};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::AuthPin;

use crate::KeyError;

/// The URI scheme.
pub const SCHEME: &str = "pkcs11:";

/// Longest PIN file read.
const MAX_PIN_FILE: u64 = 1024;

/// DER of the Ed25519 curve OID 1.3.101.112 (RFC 8410), as `CKA_EC_PARAMS`.
const ED25519_OID_DER: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// DER PrintableString "edwards25519", the older `CKA_EC_PARAMS` spelling (PKCS#11 3.0).
const ED25519_NAME_DER: &[u8] = b"\x13\x0cedwards25519";

/// Where the PIN comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum PinSource {
    /// No PIN: only public objects are visible.
    None,
    /// `pin-value=`.
    Value(String),
    /// `pin-source=file:PATH`.
    File(PathBuf),
}

impl std::fmt::Debug for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinSource::None => f.write_str("none"),
            PinSource::Value(_) => f.write_str("pin-value"),
            PinSource::File(path) => write!(f, "pin-source file {}", path.display()),
        }
    }
}

/// A parsed `pkcs11:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `manufacturer=`: the token manufacturer.
    pub manufacturer: Option<String>,
    /// `serial=`: the token serial number.
    pub serial: Option<String>,
    /// `model=`: the token model.
    pub model: Option<String>,
    /// `slot-id=`: the slot.
    pub slot_id: Option<u64>,
    /// `object=`: the key's label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id=`: the key's `CKA_ID`.
    pub id: Option<Vec<u8>>,
    /// `module-path=`: the PKCS#11 module to load.
    pub module_path: Option<PathBuf>,
    /// The PIN.
    pub pin: PinSource,
    /// The URI as given, with any `pin-value` replaced, for messages.
    shown: String,
}

impl std::fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Pkcs11Uri {
    /// Parses an RFC 7512 URI. Refuses duplicate and unknown standard attributes.
    pub fn parse(text: &str) -> Result<Pkcs11Uri, KeyError> {
        let shown = redact(text);
        let bad = |message: String| KeyError::BadReference {
            reference: shown.clone(),
            message,
        };
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("does not start with pkcs11:".to_owned()))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri {
            token: None,
            manufacturer: None,
            serial: None,
            model: None,
            slot_id: None,
            object: None,
            id: None,
            module_path: None,
            pin: PinSource::None,
            shown: shown.clone(),
        };
        let mut seen = Vec::new();
        let parts = path.split(';').map(|a| (a, true)).chain(
            query
                .into_iter()
                .flat_map(|q| q.split('&'))
                .map(|a| (a, false)),
        );
        for (attribute, in_path) in parts {
            if attribute.is_empty() {
                continue;
            }
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| bad(format!("attribute {attribute:?} has no '='")))?;
            if name.starts_with("x-") {
                continue;
            }
            if seen.contains(&name) {
                return Err(bad(format!("attribute {name} appears twice")));
            }
            seen.push(name);
            let bytes = percent_decode(value)
                .ok_or_else(|| bad(format!("attribute {name}: invalid percent-encoding")))?;
            let text = || {
                String::from_utf8(bytes.clone())
                    .map_err(|_| bad(format!("attribute {name} is not UTF-8")))
            };
            match (name, in_path) {
                ("token", true) => uri.token = Some(text()?),
                ("manufacturer", true) => uri.manufacturer = Some(text()?),
                ("serial", true) => uri.serial = Some(text()?),
                ("model", true) => uri.model = Some(text()?),
                ("slot-id", true) => {
                    uri.slot_id = Some(
                        text()?
                            .parse()
                            .map_err(|_| bad("slot-id must be a decimal number".to_owned()))?,
                    )
                }
                ("object", true) => uri.object = Some(text()?),
                ("id", true) => uri.id = Some(bytes.clone()),
                ("type", true) => {
                    if text()? != "private" {
                        return Err(bad(
                            "type must be private (a signing key is a private key)".to_owned()
                        ));
                    }
                }
                ("module-path", false) => uri.module_path = Some(PathBuf::from(text()?)),
                ("pin-value", false) => uri.pin = PinSource::Value(text()?),
                ("pin-source", false) => {
                    let source = text()?;
                    let path = source.strip_prefix("file:").unwrap_or(&source);
                    // file:///run/pin and file:/run/pin both name /run/pin.
                    let path = path.strip_prefix("//").unwrap_or(path);
                    if !path.starts_with('/') {
                        return Err(bad(format!(
                            "pin-source {source:?} must be file:/ABSOLUTE/PATH"
                        )));
                    }
                    uri.pin = PinSource::File(PathBuf::from(path));
                }
                _ => {
                    return Err(bad(format!(
                        "attribute {name} is not supported {} (supported: token, manufacturer, \
                         serial, model, slot-id, object, id, type in the path; module-path, \
                         pin-source, pin-value in the query)",
                        if in_path {
                            "in the path"
                        } else {
                            "in the query"
                        }
                    )));
                }
            }
        }
        if seen.contains(&"pin-value") && seen.contains(&"pin-source") {
            return Err(bad("give pin-value or pin-source, not both".to_owned()));
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(bad(
                "name the key with object=LABEL (or id=...); a URI without one could match any \
                 key in the token"
                    .to_owned(),
            ));
        }
        if uri.module_path.is_none() {
            return Err(bad(
                "give the PKCS#11 module with ?module-path=/path/to/module.so (for SoftHSM: \
                 /usr/lib/softhsm/libsofthsm2.so)"
                    .to_owned(),
            ));
        }
        Ok(uri)
    }

    /// The key, as `object "LABEL"` or `id HEX`, for messages.
    fn key_shown(&self) -> String {
        match (&self.object, &self.id) {
            (Some(label), _) => format!("object {label:?}"),
            (None, Some(id)) => format!("object with id {}", hex(id)),
            (None, None) => "object".to_owned(),
        }
    }

    fn module(&self) -> &Path {
        self.module_path.as_deref().unwrap_or(Path::new(""))
    }

    /// Reads the PIN.
    fn read_pin(&self) -> Result<Option<AuthPin>, KeyError> {
        match &self.pin {
            PinSource::None => Ok(None),
            PinSource::Value(pin) => Ok(Some(AuthPin::from(pin.clone()))),
            PinSource::File(path) => {
                let meta = std::fs::metadata(path).map_err(|e| {
                    KeyError::Pkcs11(format!("PIN file {}: {e} (in {self})", path.display()))
                })?;
                if meta.permissions().mode() & 0o004 != 0 {
                    return Err(KeyError::Pkcs11(format!(
                        "PIN file {} is readable by every user (mode {:04o}); run chmod o-r on it",
                        path.display(),
                        meta.permissions().mode() & 0o7777
                    )));
                }
                if meta.len() > MAX_PIN_FILE {
                    return Err(KeyError::Pkcs11(format!(
                        "PIN file {} is larger than a PIN can be",
                        path.display()
                    )));
                }
                let text = std::fs::read_to_string(path)
                    .map_err(|e| KeyError::Pkcs11(format!("PIN file {}: {e}", path.display())))?;
                Ok(Some(AuthPin::from(
                    text.trim_end_matches(['\n', '\r']).to_owned(),
                )))
            }
        }
    }
}

/// The URI with a `pin-value` replaced by `***`.
fn redact(text: &str) -> String {
    match text.split_once('?') {
        None => text.to_owned(),
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|a| {
                    if a.starts_with("pin-value=") {
                        "pin-value=***".to_owned()
                    } else {
                        a.to_owned()
                    }
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
    }
}

fn percent_decode(value: &str) -> Option<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The loaded and initialised modules of this process.
static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();

/// One loaded and initialised context per module per process: PKCS#11 allows one
/// `C_Initialize` per process, and modules keep login state per process.
fn context(uri: &Pkcs11Uri) -> Result<Pkcs11, KeyError> {
    let module = uri.module();
    let mut contexts = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(ctx) = contexts.get(module) {
        return Ok(ctx.clone());
    }
    if !module.is_file() {
        return Err(KeyError::Pkcs11(format!(
            "PKCS#11 module {} does not exist (module-path of {uri}); install the token's \
             module (for SoftHSM: apt-get install softhsm2)",
            module.display()
        )));
    }
    let ctx = Pkcs11::new(module).map_err(|e| {
        KeyError::Pkcs11(format!(
            "cannot load PKCS#11 module {}: {e}",
            module.display()
        ))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(KeyError::Pkcs11(format!(
                "PKCS#11 module {} failed to initialise: {}",
                module.display(),
                short(&e)
            )));
        }
    }
    contexts.insert(module.to_owned(), ctx.clone());
    Ok(ctx)
}

/// Finalises the module's context so the next use initialises it again. Some modules (SoftHSM
/// among them) learn which tokens exist only in `C_Initialize`, so a token that was removed and
/// comes back is found only by a fresh context. Sessions of other keys on the module become
/// invalid; they reconnect the same way on their next signature.
fn reset_context(uri: &Pkcs11Uri) {
    let removed = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(uri.module());
    if let Some(ctx) = removed {
        // Nothing to do about a module that fails to finalise: the next one is a fresh start.
        let _ = ctx.finalize();
    }
}

/// A one-line description of a PKCS#11 error (the crate's own texts are paragraphs).
fn short(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => {
            let what = match rv {
                RvError::PinIncorrect => "wrong PIN".to_owned(),
                RvError::PinLocked => "the PIN is locked".to_owned(),
                RvError::TokenNotPresent => "the token is not present".to_owned(),
                RvError::DeviceRemoved => "the token was removed".to_owned(),
                RvError::UserNotLoggedIn => "not logged in (no PIN given)".to_owned(),
                RvError::MechanismInvalid => "the token does not support this mechanism".to_owned(),
                other => format!("{other:?}"),
            };
            format!("{what} (in {function})")
        }
        other => other.to_string(),
    }
}

/// Finds the one token the URI names.
fn find_token(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<(Slot, TokenInfo), KeyError> {
    let slots = ctx.get_slots_with_token().map_err(|e| {
        KeyError::Pkcs11(format!(
            "listing the tokens of module {}: {}",
            uri.module().display(),
            short(&e)
        ))
    })?;
    let mut labels = Vec::new();
    let mut found = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        labels.push(info.label().trim_end().to_owned());
        let matches = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w == have.trim_end())
        };
        if matches(&uri.token, info.label())
            && matches(&uri.manufacturer, info.manufacturer_id())
            && matches(&uri.serial, info.serial_number())
            && matches(&uri.model, info.model())
            && uri.slot_id.is_none_or(|id| id == slot.id())
        {
            found.push((slot, info));
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(KeyError::Pkcs11(format!(
            "no token matching {uri} in module {} (tokens present: {})",
            uri.module().display(),
            if labels.is_empty() {
                "none".to_owned()
            } else {
                labels.join(", ")
            }
        ))),
        n => Err(KeyError::Pkcs11(format!(
            "{n} tokens match {uri}; add token=, serial= or slot-id= to choose one"
        ))),
    }
}

/// Opens a session on the token and logs in when a PIN is given.
fn open_session(
    ctx: &Pkcs11,
    uri: &Pkcs11Uri,
    read_write: bool,
) -> Result<(Session, String), KeyError> {
    let (slot, info) = find_token(ctx, uri)?;
    let label = info.label().trim_end().to_owned();
    let session = if read_write {
        ctx.open_rw_session(slot)
    } else {
        ctx.open_ro_session(slot)
    }
    .map_err(|e| {
        KeyError::Pkcs11(format!(
            "opening a session on token {label:?}: {}",
            short(&e)
        ))
    })?;
    if let Some(pin) = uri.read_pin()? {
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(KeyError::Pkcs11(format!(
                    "wrong PIN for token {label:?} (the PIN from {:?} of {uri})",
                    uri.pin
                )));
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                return Err(KeyError::Pkcs11(format!(
                    "the user PIN of token {label:?} is locked after too many wrong PINs; the \
                     security officer must reset it (pkcs11-tool --init-pin --login \
                     --login-type so)"
                )));
            }
            Err(e) => {
                return Err(KeyError::Pkcs11(format!(
                    "logging in to token {label:?}: {}",
                    short(&e)
                )));
            }
        }
    } else if info.login_required() && read_write {
        return Err(KeyError::Pkcs11(format!(
            "token {label:?} needs a PIN: add pin-source=file:/PATH or pin-value=PIN to {uri}"
        )));
    }
    Ok((session, label))
}

/// The template selecting the URI's object of `class`.
fn template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    template
}

/// Finds the private key and reads its public key, checking it is Ed25519.
fn find_key(
    session: &Session,
    uri: &Pkcs11Uri,
    token: &str,
) -> Result<(ObjectHandle, [u8; 32]), KeyError> {
    let err =
        |what: String| KeyError::Pkcs11(format!("{} in token {token:?}: {what}", uri.key_shown()));
    let find = |class| {
        session
            .find_objects(&template(uri, class))
            .map_err(|e| err(format!("searching: {}", short(&e))))
    };
    let private = find(ObjectClass::PRIVATE_KEY)?;
    let private = match private.as_slice() {
        [one] => *one,
        [] => {
            let hint = if uri.pin == PinSource::None {
                " (private keys are visible only after login: add pin-source=file:/PATH or \
                 pin-value=PIN)"
            } else {
                ""
            };
            return Err(err(format!("no such private key{hint}")));
        }
        many => {
            return Err(err(format!(
                "{} private keys match; add id= to the URI to choose one",
                many.len()
            )));
        }
    };
    let attributes = session
        .get_attributes(private, &[AttributeType::KeyType, AttributeType::Sign])
        .map_err(|e| err(format!("reading its attributes: {}", short(&e))))?;
    for attribute in &attributes {
        match attribute {
            Attribute::KeyType(kind) if *kind != KeyType::EC_EDWARDS => {
                return Err(err(format!(
                    "is a {} key, not Ed25519 (CKK_EC_EDWARDS); Cairn signs with Ed25519 only",
                    key_type_name(*kind)
                )));
            }
            Attribute::Sign(false) => {
                return Err(err("the key may not sign (CKA_SIGN is false)".to_owned()));
            }
            _ => {}
        }
    }
    let public = find(ObjectClass::PUBLIC_KEY)?;
    let holder = match public.as_slice() {
        [one] => *one,
        // Some modules expose CKA_EC_POINT on the private key only.
        [] => private,
        _ => {
            return Err(err(
                "several public keys match; add id= to the URI".to_owned()
            ));
        }
    };
    let attributes = session
        .get_attributes(holder, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| err(format!("reading the public key: {}", short(&e))))?;
    let mut point = None;
    for attribute in attributes {
        match attribute {
            Attribute::EcParams(params)
                if params != ED25519_OID_DER && params != ED25519_NAME_DER =>
            {
                return Err(err(
                    "is an Edwards key on another curve (Ed448?), not Ed25519".to_owned(),
                ));
            }
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let point = point.ok_or_else(|| err("has no public key (CKA_EC_POINT)".to_owned()))?;
    Ok((
        private,
        ec_point_to_key(&point).ok_or_else(|| {
            err(format!(
                "its CKA_EC_POINT ({} bytes) is not a 32-byte Ed25519 public key",
                point.len()
            ))
        })?,
    ))
}

/// `CKA_EC_POINT` of an Ed25519 key: DER OCTET STRING (0x04 0x20 || 32 bytes), or the 32 bytes.
pub fn ec_point_to_key(point: &[u8]) -> Option<[u8; 32]> {
    match point {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest.try_into().ok(),
        raw if raw.len() == 32 => raw.try_into().ok(),
        _ => None,
    }
}

fn key_type_name(kind: KeyType) -> String {
    if kind == KeyType::EC {
        "EC (ECDSA)".to_owned()
    } else if kind == KeyType::RSA {
        "RSA".to_owned()
    } else {
        kind.to_string()
    }
}

/// An open session and the key's handle in it.
struct Live {
    session: Session,
    key: ObjectHandle,
}

/// An Ed25519 key in a PKCS#11 token.
pub struct Pkcs11Key {
    uri: Pkcs11Uri,
    public: [u8; 32],
    live: Mutex<Option<Live>>,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Key({})", self.uri)
    }
}

impl Pkcs11Key {
    /// Loads the module, finds the token and the key, logs in.
    pub fn open(uri: &Pkcs11Uri) -> Result<Pkcs11Key, KeyError> {
        let ctx = context(uri)?;
        let (session, token) = open_session(&ctx, uri, false)?;
        let (key, public) = find_key(&session, uri, &token)?;
        Ok(Pkcs11Key {
            uri: uri.clone(),
            public,
            live: Mutex::new(Some(Live { session, key })),
        })
    }

    /// Generates a new Ed25519 key pair in the token, under the URI's `object` label (and `id`
    /// if given; else a random one): the private key is sensitive and not extractable, so it
    /// never leaves the token. Refuses when a key with that label or id exists.
    pub fn generate(uri: &Pkcs11Uri) -> Result<Pkcs11Key, KeyError> {
        let Some(label) = &uri.object else {
            return Err(KeyError::BadReference {
                reference: uri.to_string(),
                message: "give the new key's label with object=LABEL".to_owned(),
            });
        };
        if uri.pin == PinSource::None {
            return Err(KeyError::Pkcs11(format!(
                "generating a private key needs the user PIN: add pin-source=file:/PATH or \
                 pin-value=PIN to {uri}"
            )));
        }
        let ctx = context(uri)?;
        let (session, token) = open_session(&ctx, uri, true)?;
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            let existing = session.find_objects(&template(uri, class)).map_err(|e| {
                KeyError::Pkcs11(format!("searching token {token:?}: {}", short(&e)))
            })?;
            if !existing.is_empty() {
                return Err(KeyError::Pkcs11(format!(
                    "token {token:?} already holds a key {}; refusing to create a second one \
                     (choose another object= label)",
                    uri.key_shown()
                )));
            }
        }
        let id = match &uri.id {
            Some(id) => id.clone(),
            None => session.generate_random_vec(16).map_err(|e| {
                KeyError::Pkcs11(format!("token {token:?} random generator: {}", short(&e)))
            })?,
        };
        let common = [
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id),
        ];
        let mut public = common.to_vec();
        public.extend([
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(ED25519_OID_DER.to_vec()),
        ]);
        let mut private = common.to_vec();
        private.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ]);
        session
            .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
            .map_err(|e| {
                KeyError::Pkcs11(format!(
                    "generating an Ed25519 key pair in token {token:?}: {}",
                    short(&e)
                ))
            })?;
        let (key, public) = find_key(&session, uri, &token)?;
        Ok(Pkcs11Key {
            uri: uri.clone(),
            public,
            live: Mutex::new(Some(Live { session, key })),
        })
    }

    /// A new session with the key found again, which must be the same public key; if that
    /// fails with the module's current context, once more with a freshly initialised one.
    fn reconnect(&self) -> Result<Live, KeyError> {
        self.reconnect_once().or_else(|_| {
            reset_context(&self.uri);
            self.reconnect_once()
        })
    }

    fn reconnect_once(&self) -> Result<Live, KeyError> {
        let ctx = context(&self.uri)?;
        let (session, token) = open_session(&ctx, &self.uri, false)?;
        let (key, public) = find_key(&session, &self.uri, &token)?;
        if public != self.public {
            return Err(KeyError::Pkcs11(format!(
                "{} in token {token:?} now holds a different public key than when it was \
                 opened; refusing to sign with it",
                self.uri.key_shown()
            )));
        }
        Ok(Live { session, key })
    }
}

impl Ed25519Key for Pkcs11Key {
    fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// Signs with the open session; if there is none, or signing fails (a session made
    /// invalid by a removed and reinserted token), once more with a new session. On failure the
    /// session is dropped, so the next call starts over: the key recovers by itself when the
    /// token is back.
    fn try_sign_raw(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let fail = |message: String| SignError(format!("PKCS#11 key {}: {message}", self.uri));
        let mut last = None;
        for _attempt in 0..2 {
            let current = match live.take() {
                Some(current) => current,
                None => match self.reconnect() {
                    Ok(current) => current,
                    Err(e) => return Err(fail(e.to_string())),
                },
            };
            match current.session.sign(&mechanism, current.key, message) {
                Ok(signature) => {
                    let signature: [u8; 64] = signature.as_slice().try_into().map_err(|_| {
                        fail(format!(
                            "the token returned a {}-byte signature, not 64",
                            signature.len()
                        ))
                    })?;
                    *live = Some(current);
                    return Ok(signature);
                }
                Err(e) => last = Some(fail(format!("signing failed: {}", short(&e)))),
            }
        }
        Err(last.unwrap_or_else(|| fail("signing failed".to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = "module-path=/usr/lib/softhsm/libsofthsm2.so";

    #[test]
    fn parses_the_rfc_7512_attributes() {
        let uri = Pkcs11Uri::parse(&format!(
            "pkcs11:token=cairn%20test;object=release-2027;id=%01%ff?{MODULE}&pin-source=file:/run/pin"
        ))
        .expect("valid");
        assert_eq!(uri.token.as_deref(), Some("cairn test"));
        assert_eq!(uri.object.as_deref(), Some("release-2027"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 255][..]));
        assert_eq!(uri.pin, PinSource::File(PathBuf::from("/run/pin")));
        assert_eq!(
            uri.module_path.as_deref(),
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        let uri = Pkcs11Uri::parse(&format!(
            "pkcs11:object=k;x-vendor=1?{MODULE}&pin-value=1234"
        ))
        .expect("valid");
        assert_eq!(uri.pin, PinSource::Value("1234".to_owned()));
        assert!(!uri.to_string().contains("1234"), "{uri}");
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for (uri, expected) in [
            ("pkcs11:token=a?pin-value=1", "object=LABEL"),
            ("pkcs11:object=a", "module-path"),
            ("pkcs11:object=a;object=b?module-path=/m", "twice"),
            (
                "pkcs11:object=a;library-version=1?module-path=/m",
                "not supported",
            ),
            (
                "pkcs11:object=a;type=public?module-path=/m",
                "type must be private",
            ),
            ("pkcs11:object=%zz?module-path=/m", "percent"),
            (
                "pkcs11:object=a?module-path=/m&pin-source=pin.txt",
                "ABSOLUTE",
            ),
            (
                "pkcs11:object=a?module-path=/m&pin-value=1&pin-source=/p",
                "not both",
            ),
        ] {
            let err = Pkcs11Uri::parse(uri).expect_err(uri).to_string();
            assert!(err.contains(expected), "{uri}: {err}");
            assert!(!err.contains("pin-value=1&"), "PIN shown: {err}");
        }
    }

    #[test]
    fn reads_ec_point_in_both_encodings() {
        let key = [7u8; 32];
        let mut der = vec![0x04, 0x20];
        der.extend_from_slice(&key);
        assert_eq!(ec_point_to_key(&der), Some(key));
        assert_eq!(ec_point_to_key(&key), Some(key));
        assert_eq!(ec_point_to_key(&der[..33]), None);
        // A P-256 uncompressed point wrapped in an OCTET STRING is not an Ed25519 key.
        let mut p256 = vec![0x04, 0x41, 0x04];
        p256.extend_from_slice(&[1u8; 64]);
        assert_eq!(ec_point_to_key(&p256), None);
    }

    #[test]
    fn a_missing_module_is_named() {
        let uri = Pkcs11Uri::parse("pkcs11:object=a?module-path=/nonexistent/libnothing.so")
            .expect("valid");
        let err = Pkcs11Key::open(&uri).expect_err("no module").to_string();
        assert!(
            err.contains("/nonexistent/libnothing.so does not exist"),
            "{err}"
        );
    }
}
