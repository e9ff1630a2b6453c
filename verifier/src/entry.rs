//! Cairn log entries: the strict grammars of `cairn/release/v1`, `cairn/deprecate/v1` and
//! `cairn/key/v1`. The normative text is `spec/entries.md`; this module implements it.
//!
//! An entry is the *text* of a signed note ([`crate::note`]): a type line, then `key value`
//! lines in a fixed order. The grammar is strict in both directions:
//!
//! - one byte string has one meaning: unknown keys, duplicates, reordering, non-canonical
//!   decimals, uppercase hex, stray spaces and non-ASCII bytes are all refused;
//! - one meaning has one byte string: repeated lines (`artifact`, `manifest`, `root`) must be
//!   sorted, so the builders and the parser agree on a single encoding, and formatting a parsed
//!   entry gives back exactly the parsed bytes.
//!
//! Size caps are checked before any other work: the whole text first
//! ([`MAX_ENTRY_TEXT_SIZE`]), then the number of lines and each line's length in the same scan
//! that checks the character set, and only then the fields. [`MAX_ENTRY_TEXT_SIZE`] is chosen
//! so that any entry, with the largest signature block a note may carry, still fits a u16
//! entry-bundle slot (a compile-time assertion below checks the arithmetic).

use std::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::decimal::parse_canonical_u64;
use crate::hash::{HASH_SIZE, Hash, sha256};
use crate::note::{
    Ed25519Verifier, MAX_ENTRY_NOTE_SIZE, MAX_KEY_NAME_SIZE, MAX_NOTE_SIGNATURES, NoteError,
    NoteVerifier,
};
use crate::sigstore_identity::IdentityMatcher;

/// Type line of a release statement.
pub const RELEASE_TYPE: &str = "cairn/release/v1";
/// Type line of a deprecation.
pub const DEPRECATE_TYPE: &str = "cairn/deprecate/v1";
/// Type line of a key-log event.
pub const KEY_TYPE: &str = "cairn/key/v1";

/// Largest entry text (the note text, type line to final newline), in bytes.
pub const MAX_ENTRY_TEXT_SIZE: usize = 32_768;
/// Longest line of an entry text, newline excluded, in bytes.
pub const MAX_LINE_SIZE: usize = 512;
/// Most `artifact` lines in a release.
pub const MAX_ARTIFACTS: usize = 64;
/// Most `manifest` lines in a release.
pub const MAX_MANIFESTS: usize = 16;
/// Most `root` lines in a root event.
pub const MAX_ROOTS: usize = 16;
/// Longest release name, in bytes.
pub const MAX_RELEASE_NAME_SIZE: usize = 128;
/// Longest scope, in bytes.
pub const MAX_SCOPE_SIZE: usize = 128;
/// Longest version, in bytes.
pub const MAX_VERSION_SIZE: usize = 64;
/// Longest file name, in bytes (the common file-system limit `NAME_MAX`).
pub const MAX_FILE_NAME_SIZE: usize = 255;
/// Longest reason text, in bytes.
pub const MAX_REASON_SIZE: usize = 256;
/// Longest advisory identifier, in bytes.
pub const MAX_ADVISORY_SIZE: usize = 128;

/// Longest OIDC issuer URL in an entry (`sigstore` release line, identity events).
pub const MAX_ISSUER_SIZE: usize = 128;
/// Longest certificate identity, or identity pattern, in an entry.
pub const MAX_IDENTITY_SIZE: usize = 300;
/// Base64 characters on every `trusted-root` line but the last (360 bytes of JSON each).
pub const TRUSTED_ROOT_LINE_CHARS: usize = 480;
/// Most `trusted-root` lines in a `sigstore-root` event.
pub const MAX_TRUSTED_ROOT_LINES: usize = 64;
/// Largest Sigstore `trusted_root.json` a `sigstore-root` event can pin, in bytes.
pub const MAX_PINNED_TRUSTED_ROOT_SIZE: usize =
    MAX_TRUSTED_ROOT_LINES * TRUSTED_ROOT_LINE_CHARS / 4 * 3;

/// Most lines any entry can have: a release with every repeatable line at its cap (each
/// artifact followed by its `decompressed` line) and a `sigstore` line.
const MAX_ENTRY_LINES: usize = 4 + 2 * MAX_ARTIFACTS + MAX_MANIFESTS;

/// Values quoted in errors are cut to this many characters so an error never echoes a whole
/// hostile line.
const SHOWN_CHARS: usize = 80;

// The largest Ed25519 signature line (entries are signed by Ed25519 keys from the key log):
// "— " (4 bytes), key name, space, base64 of key ID and signature, newline.
const MAX_ED25519_LINE_SIZE: usize = 4 + MAX_KEY_NAME_SIZE + 1 + (68 / 3 + 1) * 4 + 1;
// Any entry text plus the blank line plus the most signature lines a note may carry, all from
// known Ed25519 keys, fits a u16 bundle slot. (Unknown lines are not bounded per line, so an
// entry carrying them is bounded by Note::parse_entry's MAX_ENTRY_NOTE_SIZE instead.)
const _: () = assert!(
    MAX_ENTRY_TEXT_SIZE + 1 + MAX_NOTE_SIGNATURES * MAX_ED25519_LINE_SIZE <= MAX_ENTRY_NOTE_SIZE
);
// The largest release the caps allow fits MAX_ENTRY_TEXT_SIZE, so the builders never produce
// an entry the parser would refuse for its size.
const MAX_FILE_LINE_SIZE: usize =
    "artifact sha256:".len() + 2 * HASH_SIZE + 1 + 20 + 1 + MAX_FILE_NAME_SIZE;
const _: () = assert!(
    RELEASE_TYPE.len()
        + 1
        + "name ".len()
        + MAX_RELEASE_NAME_SIZE
        + 1
        + "version ".len()
        + MAX_VERSION_SIZE
        + 1
        + (MAX_ARTIFACTS + MAX_MANIFESTS) * (MAX_FILE_LINE_SIZE + 1)
        <= MAX_ENTRY_TEXT_SIZE
);
// Every line the grammar can produce is within MAX_LINE_SIZE.
const MAX_VKEY_SIZE: usize = MAX_KEY_NAME_SIZE + 1 + 8 + 1 + 44;
const _: () = assert!(MAX_FILE_LINE_SIZE <= MAX_LINE_SIZE);
const _: () = assert!("root ".len() + MAX_VKEY_SIZE <= MAX_LINE_SIZE);
const _: () = assert!("reason ".len() + MAX_REASON_SIZE <= MAX_LINE_SIZE);
const _: () = assert!(
    "sigstore sha256:".len() + 2 * HASH_SIZE + 1 + MAX_ISSUER_SIZE + 1 + MAX_IDENTITY_SIZE
        <= MAX_LINE_SIZE
);
const _: () = assert!("identity ".len() + MAX_IDENTITY_SIZE <= MAX_LINE_SIZE);
const _: () = assert!("trusted-root ".len() + TRUSTED_ROOT_LINE_CHARS <= MAX_LINE_SIZE);
// The largest sigstore-root event fits the text cap.
const _: () = assert!(
    KEY_TYPE.len()
        + "\nevent sigstore-root\nfrom 18446744073709551615\ntrusted-root-digest sha256:".len()
        + 2 * HASH_SIZE
        + 1
        + MAX_TRUSTED_ROOT_LINES * ("trusted-root ".len() + TRUSTED_ROOT_LINE_CHARS + 1)
        + "reason \n".len()
        + MAX_REASON_SIZE
        <= MAX_ENTRY_TEXT_SIZE
);
const _: () = assert!(MAX_TRUSTED_ROOT_LINES + 5 <= MAX_ENTRY_LINES);

/// Why an entry text, or a value meant for one, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The text is larger than [`MAX_ENTRY_TEXT_SIZE`].
    #[error("entry text is {size} bytes, larger than the limit of {MAX_ENTRY_TEXT_SIZE}")]
    TooLarge {
        /// Size of the refused text.
        size: usize,
    },
    /// The text has more lines than any entry can have.
    #[error("entry text has more than {MAX_ENTRY_LINES} lines")]
    TooManyLines,
    /// A line is longer than [`MAX_LINE_SIZE`].
    #[error("line {line} is longer than {MAX_LINE_SIZE} bytes")]
    LineTooLong {
        /// 1-based line number.
        line: usize,
    },
    /// A byte other than printable ASCII (0x20 to 0x7e) or newline.
    #[error("byte 0x{byte:02x} at offset {offset} is not printable ASCII")]
    NotPrintableAscii {
        /// Offset of the byte in the text.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// The text is empty or its last line has no newline.
    #[error("entry text does not end with a newline")]
    NoFinalNewline,
    /// An empty line (two newlines in a row, or a text that is only a newline).
    #[error("line {line} is empty")]
    EmptyLine {
        /// 1-based line number.
        line: usize,
    },
    /// A line starts or ends with a space, or has two spaces in a row.
    #[error("line {line} has a leading, trailing or doubled space")]
    BadSpacing {
        /// 1-based line number.
        line: usize,
    },
    /// A line after the type line is not `key value`.
    #[error("line {line} is not of the form `key value`")]
    MalformedLine {
        /// 1-based line number.
        line: usize,
    },
    /// The type line names no Cairn entry type.
    #[error("unknown entry type {found:?}")]
    UnknownType {
        /// The type line, cut short.
        found: String,
    },
    /// The type line names another entry type than the one asked for.
    #[error("expected a {expected} entry, found type line {found:?}")]
    WrongType {
        /// The type line the caller asked for.
        expected: &'static str,
        /// The type line found, cut short.
        found: String,
    },
    /// A key that no line of this entry type may carry.
    #[error("line {line}: unknown key {key:?}")]
    UnknownKey {
        /// 1-based line number.
        line: usize,
        /// The key, cut short.
        key: String,
    },
    /// A key of the key-event vocabulary that this kind of event does not carry.
    #[error("line {line}: key {key:?} is not allowed in a {event} event")]
    KeyNotAllowed {
        /// 1-based line number.
        line: usize,
        /// The key.
        key: &'static str,
        /// The event kind (`root`, `add`, `retire`, `revoke`).
        event: &'static str,
    },
    /// A key that may appear once appears again.
    #[error("line {line}: key {key:?} appears more than once")]
    DuplicateKey {
        /// 1-based line number of the repetition.
        line: usize,
        /// The key.
        key: &'static str,
    },
    /// A known key in the wrong place of the fixed line order.
    #[error("line {line}: key {key:?} is out of order")]
    OutOfOrder {
        /// 1-based line number of the misplaced line.
        line: usize,
        /// The key.
        key: &'static str,
    },
    /// A required key is absent.
    #[error("missing required key {key:?}")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// More repeatable lines than the cap allows.
    #[error("more than {max} {key:?} lines")]
    TooMany {
        /// The key.
        key: &'static str,
        /// The cap.
        max: usize,
    },
    /// Repeated lines that are not in strictly ascending order.
    #[error("line {line}: {key:?} lines must be in strictly ascending order")]
    NotSorted {
        /// 1-based line number of the first line out of order.
        line: usize,
        /// The key.
        key: &'static str,
    },
    /// An `artifact` or `manifest` value is not `sha256:<hex> <size> <file name>`.
    #[error("line {line}: {key} value must be `sha256:<hex> <size> <file name>`")]
    MalformedFileLine {
        /// 1-based line number.
        line: usize,
        /// The key (`artifact` or `manifest`).
        key: &'static str,
    },
    /// A `decompressed` value is not `sha256:<hex> <size>`.
    #[error("line {line}: decompressed value must be `sha256:<hex> <size>`")]
    MalformedDecompressedLine {
        /// 1-based line number.
        line: usize,
    },
    /// Two files of one release have names equal when ASCII case is ignored.
    #[error("file name {name:?} appears twice (file names are compared ignoring ASCII case)")]
    DuplicateFileName {
        /// The second of the two names.
        name: String,
    },
    /// Not a release name.
    #[error("invalid release name {value:?}: {why}")]
    InvalidReleaseName {
        /// The value, cut short.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Not a version.
    #[error("invalid version {value:?}: {why}")]
    InvalidVersion {
        /// The value, cut short.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Not a `sha256:<64 lowercase hex>` digest.
    #[error("invalid digest {value:?}: {why}")]
    InvalidDigest {
        /// The value, cut short.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Not a canonical decimal that fits a u64.
    #[error("invalid {what} {value:?}: {why}")]
    InvalidDecimal {
        /// Which number (`size`, `from`, `until`, `threshold`).
        what: &'static str,
        /// The value, cut short.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Not a safe file name.
    #[error("invalid file name {value:?}: {why}")]
    InvalidFileName {
        /// The value, cut short.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Not a scope.
    #[error("invalid scope {value:?}: {why}")]
    InvalidScope {
        /// The value, cut short.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Not a one-line reason.
    #[error("invalid reason {value:?}: {why}")]
    InvalidReason {
        /// The value, cut short.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Not an advisory identifier.
    #[error("invalid advisory {value:?}: {why}")]
    InvalidAdvisory {
        /// The value, cut short.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// The `event` value is not `root`, `add`, `retire` or `revoke`.
    #[error("unknown key event {value:?}")]
    InvalidEvent {
        /// The value, cut short.
        value: String,
    },
    /// A `key` or `root` value is not an Ed25519 C2SP verifier key.
    #[error("invalid verifier key {value:?}: {source}")]
    InvalidKey {
        /// The value, cut short.
        value: String,
        /// Why the note layer refused it.
        source: NoteError,
    },
    /// A verifier key that parses but is not spelled the way it is formatted.
    #[error("verifier key {value:?} is not in canonical form")]
    NonCanonicalKey {
        /// The value, cut short.
        value: String,
    },
    /// The threshold is zero or larger than the number of root keys.
    #[error("threshold {threshold} is out of range for {roots} root keys")]
    ThresholdOutOfRange {
        /// The threshold.
        threshold: u64,
        /// The number of root keys.
        roots: usize,
    },
    /// The same public key appears twice in a root set (under the same or another name).
    #[error("root key {vkey} appears twice in the root set")]
    DuplicateRootKey {
        /// The second occurrence.
        vkey: String,
    },
    /// Two different root keys share a key name and key ID, so signatures could not be
    /// attributed.
    #[error("root key {vkey} has the same key name and key ID as another root key")]
    RootKeyIdCollision {
        /// The second of the two keys.
        vkey: String,
    },
    /// Not an OIDC issuer URL.
    #[error("invalid OIDC issuer {value:?}: {why}")]
    InvalidIssuer {
        /// The value, cut short.
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Not a certificate identity (or, in a grant, not an identity pattern).
    #[error("invalid certificate identity {value:?}: {why}")]
    InvalidIdentity {
        /// The value, cut short.
        value: String,
        /// The rule it breaks.
        why: String,
    },
    /// A `sigstore` value is not `sha256:<hex> <issuer> <identity>`.
    #[error("line {line}: sigstore value must be `sha256:<bundle hex> <issuer> <identity>`")]
    MalformedSigstoreLine {
        /// 1-based line number.
        line: usize,
    },
    /// A release authorised by a Sigstore bundle breaks a rule of that kind of release.
    #[error("sigstore release: {why}")]
    SigstoreRelease {
        /// The rule it breaks.
        why: &'static str,
    },
    /// The `trusted-root` lines of a `sigstore-root` event are not the canonical base64 of
    /// the pinned trusted root, or do not hash to `trusted-root-digest`.
    #[error("invalid pinned trusted root: {why}")]
    InvalidTrustedRoot {
        /// The rule it breaks.
        why: &'static str,
    },
    /// A deprecation names its own version as the replacement.
    #[error("replacement {version} is the deprecated version itself")]
    ReplacementIsVersion {
        /// The version.
        version: String,
    },
}

fn shown(value: &str) -> String {
    value.chars().take(SHOWN_CHARS).collect()
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = EntryError;

            fn from_str(value: &str) -> Result<$name, EntryError> {
                $name::new(value)
            }
        }
    };
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

text_newtype! {
    /// A release name such as `hardenedbsd/installer-amd64`: one to [`MAX_RELEASE_NAME_SIZE`]
    /// bytes of `/`-separated segments; each segment is non-empty, starts with a lowercase
    /// letter or digit and continues with lowercase letters, digits, `.`, `_` or `-`.
    ///
    /// Lowercase only, so two names never differ by case alone (servers and clients on
    /// case-insensitive systems would conflate them). A segment cannot be `.` or `..`, nor
    /// start with `-`, so a name is safe as a relative path and as a command-line argument.
    ReleaseName
}

impl ReleaseName {
    /// Validates `value` as a release name.
    pub fn new(value: &str) -> Result<ReleaseName, EntryError> {
        let err = |why| EntryError::InvalidReleaseName {
            value: shown(value),
            why,
        };
        if value.len() > MAX_RELEASE_NAME_SIZE {
            return Err(err("longer than 128 bytes"));
        }
        for segment in value.split('/') {
            let bytes = segment.as_bytes();
            match bytes.first() {
                None => return Err(err("empty segment")),
                Some(&b) if !is_lower_alnum(b) => {
                    return Err(err("a segment must start with a lowercase letter or digit"));
                }
                Some(_) => {}
            }
            if !bytes.iter().all(|&b| is_name_char(b)) {
                return Err(err(
                    "only lowercase letters, digits, '.', '_', '-' and '/' are allowed",
                ));
            }
        }
        Ok(ReleaseName(value.to_owned()))
    }
}

text_newtype! {
    /// A version such as `14.2-20261120` or `14.2-RELEASE-p1`: one to [`MAX_VERSION_SIZE`]
    /// bytes, starting with an ASCII letter or digit and continuing with ASCII letters,
    /// digits, `.`, `_`, `+` or `-`.
    ///
    /// Versions are compared byte for byte for equality: case is significant (real-world
    /// versions use uppercase). Only `cairn update` orders them, by the rule of
    /// [`crate::version_order`].
    Version
}

impl Version {
    /// Validates `value` as a version.
    pub fn new(value: &str) -> Result<Version, EntryError> {
        let err = |why| EntryError::InvalidVersion {
            value: shown(value),
            why,
        };
        let bytes = value.as_bytes();
        match bytes.first() {
            None => return Err(err("empty")),
            Some(b) if !b.is_ascii_alphanumeric() => {
                return Err(err("must start with an ASCII letter or digit"));
            }
            Some(_) => {}
        }
        if bytes.len() > MAX_VERSION_SIZE {
            return Err(err("longer than 64 bytes"));
        }
        if !bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
        {
            return Err(err(
                "only ASCII letters, digits, '.', '_', '+' and '-' are allowed",
            ));
        }
        Ok(Version(value.to_owned()))
    }
}

text_newtype! {
    /// The name an artifact or manifest is stored under on a client's disk: one to
    /// [`MAX_FILE_NAME_SIZE`] bytes of ASCII letters, digits, `.`, `_`, `+` and `-`.
    ///
    /// It becomes a path, so everything that could make it mean another file, or something
    /// else than a file, is refused: path separators (`/`, `\`) and drive or stream syntax
    /// (`:`) by the character set; `.`, `..` and hidden files by requiring a letter or digit
    /// first (which also keeps it from reading as a command-line option); a trailing `.`
    /// (Windows drops it); `~` (Windows 8.3 short names such as `HARDEN~1.IMG` alias other
    /// files); Windows device names (`CON`, `NUL`, `COM1`, ... with any extension); names
    /// ending in `.tlog-proof`, which the CLI writes beside each artifact; and every space,
    /// control, shell or non-ASCII character (no Unicode confusables or direction overrides).
    /// Within one release, names are also unique ignoring ASCII case.
    FileName
}

/// Windows device names, reserved in every directory and with any extension.
const WINDOWS_DEVICE_NAMES: &[&str] = &[
    "con", "prn", "aux", "nul", "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// The suffix of the proof file the CLI writes beside each artifact.
const PROOF_SUFFIX: &str = ".tlog-proof";

impl FileName {
    /// Validates `value` as a file name.
    pub fn new(value: &str) -> Result<FileName, EntryError> {
        let err = |why| EntryError::InvalidFileName {
            value: shown(value),
            why,
        };
        let bytes = value.as_bytes();
        match bytes.first() {
            None => return Err(err("empty")),
            Some(b) if !b.is_ascii_alphanumeric() => {
                return Err(err("must start with an ASCII letter or digit"));
            }
            Some(_) => {}
        }
        if bytes.len() > MAX_FILE_NAME_SIZE {
            return Err(err("longer than 255 bytes"));
        }
        if !bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
        {
            return Err(err(
                "only ASCII letters, digits, '.', '_', '+' and '-' are allowed",
            ));
        }
        if value.ends_with('.') {
            return Err(err("must not end with '.'"));
        }
        let stem = value.split('.').next().unwrap_or(value);
        if WINDOWS_DEVICE_NAMES
            .iter()
            .any(|d| stem.eq_ignore_ascii_case(d))
        {
            return Err(err("is a Windows device name"));
        }
        let lower = value.to_ascii_lowercase();
        if lower.ends_with(PROOF_SUFFIX) {
            return Err(err("ends in .tlog-proof, the name of a proof file"));
        }
        Ok(FileName(value.to_owned()))
    }
}

text_newtype! {
    /// A release-name pattern: which names a release key may sign.
    ///
    /// A scope has the shape of a [`ReleaseName`] (one to [`MAX_SCOPE_SIZE`] bytes of
    /// `/`-separated, non-empty segments of lowercase letters, digits, `.`, `_` and `-`,
    /// each starting with a letter or digit) except that a segment may also contain `*`, and
    /// may start with it. A scope matches a name iff both have the same number of segments
    /// and each scope segment matches the name segment in the same position, where `*`
    /// matches any run of zero or more characters *within that one segment*; every other
    /// character matches itself. `*` never matches `/`, so `hardenedbsd/*` covers
    /// `hardenedbsd/installer-amd64` but neither `hardenedbsd` nor `hardenedbsd/a/b`; there
    /// is no "any depth" wildcard. Two `*` in a row are refused (they would mean the same as
    /// one).
    Scope
}

impl Scope {
    /// Validates `value` as a scope.
    pub fn new(value: &str) -> Result<Scope, EntryError> {
        let err = |why| EntryError::InvalidScope {
            value: shown(value),
            why,
        };
        if value.len() > MAX_SCOPE_SIZE {
            return Err(err("longer than 128 bytes"));
        }
        for segment in value.split('/') {
            let bytes = segment.as_bytes();
            match bytes.first() {
                None => return Err(err("empty segment")),
                Some(&b) if !(is_lower_alnum(b) || b == b'*') => {
                    return Err(err(
                        "a segment must start with a lowercase letter, digit or '*'",
                    ));
                }
                Some(_) => {}
            }
            if !bytes.iter().all(|&b| is_name_char(b) || b == b'*') {
                return Err(err(
                    "only lowercase letters, digits, '.', '_', '-', '*' and '/' are allowed",
                ));
            }
            if segment.contains("**") {
                return Err(err("'**' is not allowed ('*' never crosses '/')"));
            }
        }
        Ok(Scope(value.to_owned()))
    }

    /// Whether the scope covers `name` (see the type's documentation for the rule).
    pub fn matches(&self, name: &ReleaseName) -> bool {
        let mut patterns = self.0.split('/');
        let mut segments = name.0.split('/');
        loop {
            match (patterns.next(), segments.next()) {
                (None, None) => return true,
                (Some(p), Some(s)) if segment_matches(p.as_bytes(), s.as_bytes()) => {}
                _ => return false,
            }
        }
    }
}

/// Wildcard matching of one segment, `*` matching any run of bytes. Backtracks only to the
/// last `*`, so the work is at most the product of the two lengths (both capped at 128).
fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                last_star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                Some((star_p, star_t)) => {
                    // Let the last star swallow one more byte and retry.
                    p = star_p + 1;
                    t = star_t + 1;
                    last_star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

text_newtype! {
    /// A one-line human explanation (`reason` lines): one to [`MAX_REASON_SIZE`] bytes of
    /// printable ASCII, no leading or trailing space, no two spaces in a row.
    ///
    /// ASCII only, because monitors print it to terminals and web pages: no control or
    /// escape sequences, no direction overrides, no look-alike characters.
    Reason
}

impl Reason {
    /// Validates `value` as a reason.
    pub fn new(value: &str) -> Result<Reason, EntryError> {
        let err = |why| EntryError::InvalidReason {
            value: shown(value),
            why,
        };
        if value.is_empty() {
            return Err(err("empty"));
        }
        if value.len() > MAX_REASON_SIZE {
            return Err(err("longer than 256 bytes"));
        }
        if !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(err("only printable ASCII is allowed"));
        }
        if value.starts_with(' ') || value.ends_with(' ') || value.contains("  ") {
            return Err(err("leading, trailing or doubled space"));
        }
        Ok(Reason(value.to_owned()))
    }
}

text_newtype! {
    /// An advisory identifier such as `CVE-2026-12345`, `HBSD-SA-2026:01` or a URL: one to
    /// [`MAX_ADVISORY_SIZE`] bytes of printable ASCII without spaces.
    Advisory
}

impl Advisory {
    /// Validates `value` as an advisory identifier.
    pub fn new(value: &str) -> Result<Advisory, EntryError> {
        let err = |why| EntryError::InvalidAdvisory {
            value: shown(value),
            why,
        };
        if value.is_empty() {
            return Err(err("empty"));
        }
        if value.len() > MAX_ADVISORY_SIZE {
            return Err(err("longer than 128 bytes"));
        }
        if !value.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
            return Err(err("only printable ASCII without spaces is allowed"));
        }
        Ok(Advisory(value.to_owned()))
    }
}

fn is_token(value: &str) -> bool {
    value.bytes().all(|b| (b'!'..=b'~').contains(&b))
}

text_newtype! {
    /// An OIDC issuer URL (`https://token.actions.githubusercontent.com`): `https://` then
    /// printable ASCII without spaces, at most [`MAX_ISSUER_SIZE`] bytes. Compared exactly.
    OidcIssuer
}

impl OidcIssuer {
    /// Validates `value` as an issuer.
    pub fn new(value: &str) -> Result<OidcIssuer, EntryError> {
        let err = |why| EntryError::InvalidIssuer {
            value: shown(value),
            why,
        };
        if value.len() > MAX_ISSUER_SIZE {
            return Err(err("longer than 128 bytes"));
        }
        if !is_token(value) {
            return Err(err("not printable ASCII without spaces"));
        }
        if value.len() <= "https://".len() || !value.starts_with("https://") {
            return Err(err("not an https:// URL"));
        }
        Ok(OidcIssuer(value.to_owned()))
    }
}

text_newtype! {
    /// A certificate identity as a Fulcio certificate carries it (a URI or email subject
    /// alternative name): 1 to [`MAX_IDENTITY_SIZE`] bytes of printable ASCII without spaces.
    CertIdentity
}

impl CertIdentity {
    /// Validates `value` as a certificate identity.
    pub fn new(value: &str) -> Result<CertIdentity, EntryError> {
        if value.is_empty() || value.len() > MAX_IDENTITY_SIZE || !is_token(value) {
            return Err(EntryError::InvalidIdentity {
                value: shown(value),
                why: format!(
                    "not 1 to {MAX_IDENTITY_SIZE} bytes of printable ASCII without spaces"
                ),
            });
        }
        Ok(CertIdentity(value.to_owned()))
    }
}

/// Validates a grant's identity pattern (`identity` line of `add-identity`, `retire-identity`,
/// `revoke-identity`): an exact identity or `PREFIX@refs/tags/*` (spec/sigstore.md).
pub fn parse_identity_pattern(value: &str) -> Result<IdentityMatcher, EntryError> {
    CertIdentity::new(value)?;
    IdentityMatcher::parse(value).map_err(|why| EntryError::InvalidIdentity {
        value: shown(value),
        why,
    })
}

/// The `sigstore` line of a release authorised by a Sigstore bundle instead of a release key:
/// the bundle's SHA-256 and the signer the bundle's certificate must name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SigstoreSigner {
    /// SHA-256 of the bundle file's bytes (`FILE.sigstore.json`).
    pub bundle: Sha256Digest,
    /// The certificate's OIDC issuer.
    pub issuer: OidcIssuer,
    /// The certificate's identity (the SAN a key-log grant must match).
    pub identity: CertIdentity,
}

impl SigstoreSigner {
    fn parse(line: &Line<'_>) -> Result<SigstoreSigner, EntryError> {
        let mut parts = line.value.split(' ');
        let (Some(bundle), Some(issuer), Some(identity), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(EntryError::MalformedSigstoreLine { line: line.no });
        };
        Ok(SigstoreSigner {
            bundle: Sha256Digest::parse(bundle)?,
            issuer: OidcIssuer::new(issuer)?,
            identity: CertIdentity::new(identity)?,
        })
    }
}

/// A SHA-256 digest as entries spell it: `sha256:` and 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; HASH_SIZE]);

impl Sha256Digest {
    /// The algorithm prefix of the text form.
    pub const PREFIX: &'static str = "sha256:";

    /// Wraps a digest computed elsewhere (for example while streaming a download).
    pub fn from_bytes(bytes: [u8; HASH_SIZE]) -> Sha256Digest {
        Sha256Digest(bytes)
    }

    /// The SHA-256 digest of `data`.
    pub fn of(data: &[u8]) -> Sha256Digest {
        Sha256Digest(sha256(data))
    }

    /// The 64 lowercase hex digits, without the `sha256:` prefix.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses `sha256:<64 lowercase hex>`; uppercase hex is refused so that a digest has one
    /// spelling.
    pub fn parse(value: &str) -> Result<Sha256Digest, EntryError> {
        let err = |why| EntryError::InvalidDigest {
            value: shown(value),
            why,
        };
        let hex = value
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| err("must start with sha256:"))?;
        if hex.len() != 2 * HASH_SIZE {
            return Err(err("must have 64 hex digits"));
        }
        let mut bytes = [0u8; HASH_SIZE];
        for (out, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(hi), Some(lo)) => *out = hi << 4 | lo,
                _ => return Err(err("hex digits must be 0-9 or lowercase a-f")),
            }
        }
        Ok(Sha256Digest(bytes))
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, Hash(self.0).to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Sha256Digest {
    type Err = EntryError;

    fn from_str(value: &str) -> Result<Sha256Digest, EntryError> {
        Sha256Digest::parse(value)
    }
}

/// Parses a canonical decimal: ASCII digits only, no sign, no leading zero (except `0`
/// itself), at most `u64::MAX`.
fn parse_decimal(what: &'static str, value: &str) -> Result<u64, EntryError> {
    let err = |why| EntryError::InvalidDecimal {
        what,
        value: shown(value),
        why,
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("must be ASCII digits only"));
    }
    if value.len() > 1 && value.starts_with('0') {
        return Err(err("leading zero"));
    }
    parse_canonical_u64(value).ok_or_else(|| err("larger than 2^64-1"))
}

/// Parses a verifier key from a `key` or `root` line: an Ed25519 (type 0x01) C2SP vkey whose
/// key ID matches its key, spelled exactly as [`Ed25519Verifier::to_vkey`] spells it.
fn parse_vkey(value: &str) -> Result<Ed25519Verifier, EntryError> {
    let key = Ed25519Verifier::from_vkey(value).map_err(|source| EntryError::InvalidKey {
        value: shown(value),
        source,
    })?;
    if key.to_vkey() != value {
        return Err(EntryError::NonCanonicalKey {
            value: shown(value),
        });
    }
    Ok(key)
}

/// One `artifact` or `manifest` line: digest, size in bytes and file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileRef {
    /// SHA-256 of the file's contents.
    pub digest: Sha256Digest,
    /// Size of the file in bytes.
    pub size: u64,
    /// Name the file is stored under.
    pub file_name: FileName,
}

impl FileRef {
    fn parse(line: &Line<'_>, key: &'static str) -> Result<FileRef, EntryError> {
        let mut parts = line.value.splitn(3, ' ');
        let (Some(digest), Some(size), Some(file_name)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(EntryError::MalformedFileLine { line: line.no, key });
        };
        Ok(FileRef {
            digest: Sha256Digest::parse(digest)?,
            size: parse_decimal("size", size)?,
            file_name: FileName::new(file_name)?,
        })
    }
}

/// What a compressed artifact (zstd or xz) decompresses to: the `decompressed
/// sha256:<hex> <size>` line that follows its `artifact` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decompressed {
    /// SHA-256 of the decompressed content.
    pub digest: Sha256Digest,
    /// Size of the decompressed content in bytes.
    pub size: u64,
}

impl Decompressed {
    fn parse(line: &Line<'_>) -> Result<Decompressed, EntryError> {
        let Some((digest, size)) = line.value.split_once(' ') else {
            return Err(EntryError::MalformedDecompressedLine { line: line.no });
        };
        if size.contains(' ') {
            return Err(EntryError::MalformedDecompressedLine { line: line.no });
        }
        Ok(Decompressed {
            digest: Sha256Digest::parse(digest)?,
            size: parse_decimal("size", size)?,
        })
    }
}

/// A release statement (`cairn/release/v1`): which files make up one version of one named
/// release. Always valid: built by [`Release::new`] or [`Release::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    name: ReleaseName,
    version: Version,
    artifacts: Vec<FileRef>,
    manifests: Vec<FileRef>,
    /// The `decompressed` lines, by artifact file name (ascending; a subset of the artifacts).
    decompressed: Vec<(FileName, Decompressed)>,
    /// Set when a Sigstore bundle, not a release key, authorises the release.
    sigstore: Option<SigstoreSigner>,
}

impl Release {
    /// Builds a release. Artifacts and manifests are sorted by file name (the canonical
    /// order); there must be 1 to [`MAX_ARTIFACTS`] artifacts, at most [`MAX_MANIFESTS`]
    /// manifests, and no two file names equal ignoring ASCII case.
    pub fn new(
        name: ReleaseName,
        version: Version,
        mut artifacts: Vec<FileRef>,
        mut manifests: Vec<FileRef>,
    ) -> Result<Release, EntryError> {
        if artifacts.is_empty() {
            return Err(EntryError::MissingKey { key: "artifact" });
        }
        if artifacts.len() > MAX_ARTIFACTS {
            return Err(EntryError::TooMany {
                key: "artifact",
                max: MAX_ARTIFACTS,
            });
        }
        if manifests.len() > MAX_MANIFESTS {
            return Err(EntryError::TooMany {
                key: "manifest",
                max: MAX_MANIFESTS,
            });
        }
        artifacts.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        manifests.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        check_unique_file_names(&artifacts, &manifests)?;
        Ok(Release {
            name,
            version,
            artifacts,
            manifests,
            decompressed: Vec::new(),
            sigstore: None,
        })
    }

    /// Makes this a release authorised by a Sigstore bundle (its `sigstore` line). Such a
    /// release has exactly one artifact (the file the bundle signs) and no manifest.
    pub fn with_sigstore(mut self, signer: SigstoreSigner) -> Result<Release, EntryError> {
        check_sigstore_files(&self.artifacts, &self.manifests)?;
        self.sigstore = Some(signer);
        Ok(self)
    }

    /// The Sigstore signer, when a bundle authorises this release instead of a release key.
    pub fn sigstore(&self) -> Option<&SigstoreSigner> {
        self.sigstore.as_ref()
    }

    /// Records what the artifact `file_name` decompresses to (its `decompressed` line).
    /// Refused when the release has no artifact of that name.
    pub fn with_decompressed(
        mut self,
        file_name: &FileName,
        decompressed: Decompressed,
    ) -> Result<Release, EntryError> {
        if !self.artifacts.iter().any(|a| &a.file_name == file_name) {
            return Err(EntryError::MissingKey { key: "artifact" });
        }
        match self
            .decompressed
            .binary_search_by(|(name, _)| name.cmp(file_name))
        {
            Ok(at) => self.decompressed[at].1 = decompressed,
            Err(at) => self
                .decompressed
                .insert(at, (file_name.clone(), decompressed)),
        }
        Ok(self)
    }

    /// Parses a release statement from a note's text.
    pub fn parse(text: &str) -> Result<Release, EntryError> {
        let (type_line, all_lines) = split_lines(text)?;
        expect_type(type_line, RELEASE_TYPE)?;
        // A `decompressed` line belongs to the `artifact` line right before it; the fixed
        // order is checked on the other lines.
        let mut lines = Vec::with_capacity(all_lines.len());
        let mut decompressed_lines: Vec<(usize, Line<'_>)> = Vec::new();
        for (i, line) in all_lines.iter().enumerate() {
            if line.key != "decompressed" {
                lines.push(*line);
                continue;
            }
            match i.checked_sub(1).map(|p| all_lines[p].key) {
                Some("artifact") => decompressed_lines.push((all_lines[i - 1].no, *line)),
                _ => {
                    return Err(EntryError::OutOfOrder {
                        line: line.no,
                        key: "decompressed",
                    });
                }
            }
        }
        let groups = group(&lines, RELEASE_SLOTS, RELEASE_KEYS, "release")?;
        let name = ReleaseName::new(groups[0][0].value)?;
        let version = Version::new(groups[1][0].value)?;
        let artifacts = parse_files(groups[2], "artifact")?;
        let manifests = parse_files(groups[3], "manifest")?;
        check_unique_file_names(&artifacts, &manifests)?;
        let mut decompressed = Vec::with_capacity(decompressed_lines.len());
        for (artifact_line, line) in decompressed_lines {
            let at = groups[2].iter().position(|l| l.no == artifact_line).ok_or(
                EntryError::OutOfOrder {
                    line: line.no,
                    key: "decompressed",
                },
            )?;
            decompressed.push((artifacts[at].file_name.clone(), Decompressed::parse(&line)?));
        }
        let sigstore = match groups[4].first() {
            Some(line) => {
                check_sigstore_files(&artifacts, &manifests)?;
                Some(SigstoreSigner::parse(line)?)
            }
            None => None,
        };
        Ok(Release {
            name,
            version,
            artifacts,
            manifests,
            decompressed,
            sigstore,
        })
    }

    /// The canonical text of the release, ready to be signed as a note.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{RELEASE_TYPE}\nname {}\nversion {}\n",
            self.name, self.version
        );
        for (key, files) in [("artifact", &self.artifacts), ("manifest", &self.manifests)] {
            for f in files {
                // Writing to a String cannot fail.
                let _ = writeln!(out, "{key} {} {} {}", f.digest, f.size, f.file_name);
                if key == "artifact"
                    && let Some(d) = self.decompressed(&f.file_name)
                {
                    let _ = writeln!(out, "decompressed {} {}", d.digest, d.size);
                }
            }
        }
        if let Some(s) = &self.sigstore {
            let _ = writeln!(out, "sigstore {} {} {}", s.bundle, s.issuer, s.identity);
        }
        out
    }

    /// What the artifact `file_name` decompresses to, if its entry says (a compressed image).
    pub fn decompressed(&self, file_name: &FileName) -> Option<&Decompressed> {
        self.decompressed
            .binary_search_by(|(name, _)| name.cmp(file_name))
            .ok()
            .map(|at| &self.decompressed[at].1)
    }

    /// The release name.
    pub fn name(&self) -> &ReleaseName {
        &self.name
    }

    /// The version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The artifacts, sorted by file name.
    pub fn artifacts(&self) -> &[FileRef] {
        &self.artifacts
    }

    /// The manifests (image manifests, SBOMs), sorted by file name.
    pub fn manifests(&self) -> &[FileRef] {
        &self.manifests
    }

    /// The artifact or manifest with this digest and size, if the release lists one.
    pub fn find_file(&self, digest: &Sha256Digest, size: u64) -> Option<&FileRef> {
        self.artifacts
            .iter()
            .chain(&self.manifests)
            .find(|f| &f.digest == digest && f.size == size)
    }
}

fn parse_files(lines: &[Line<'_>], key: &'static str) -> Result<Vec<FileRef>, EntryError> {
    let files = lines
        .iter()
        .map(|line| FileRef::parse(line, key))
        .collect::<Result<Vec<_>, _>>()?;
    for (pair, line) in files.windows(2).zip(lines.iter().skip(1)) {
        if pair[0].file_name == pair[1].file_name {
            return Err(EntryError::DuplicateFileName {
                name: pair[1].file_name.0.clone(),
            });
        }
        if pair[0].file_name > pair[1].file_name {
            return Err(EntryError::NotSorted { line: line.no, key });
        }
    }
    Ok(files)
}

/// A Sigstore bundle signs one artifact: a release it authorises lists exactly that file.
fn check_sigstore_files(artifacts: &[FileRef], manifests: &[FileRef]) -> Result<(), EntryError> {
    if artifacts.len() != 1 {
        return Err(EntryError::SigstoreRelease {
            why: "it must have exactly one artifact (the file the bundle signs)",
        });
    }
    if !manifests.is_empty() {
        return Err(EntryError::SigstoreRelease {
            why: "it must have no manifest (the bundle signs one file)",
        });
    }
    Ok(())
}

/// Refuses two files (artifacts and manifests together) whose names are equal ignoring ASCII
/// case: on a case-insensitive file system one would overwrite the other.
fn check_unique_file_names(artifacts: &[FileRef], manifests: &[FileRef]) -> Result<(), EntryError> {
    let mut lower: Vec<(String, &FileName)> = artifacts
        .iter()
        .chain(manifests)
        .map(|f| (f.file_name.0.to_ascii_lowercase(), &f.file_name))
        .collect();
    lower.sort();
    match lower.windows(2).find(|w| w[0].0 == w[1].0) {
        Some(w) => Err(EntryError::DuplicateFileName {
            name: w[1].1.0.clone(),
        }),
        None => Ok(()),
    }
}

/// A deprecation (`cairn/deprecate/v1`): a published version should no longer be installed.
/// Always valid: built by [`Deprecation::new`] or [`Deprecation::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecation {
    name: ReleaseName,
    version: Version,
    reason: Reason,
    advisory: Option<Advisory>,
    replacement: Option<Version>,
}

impl Deprecation {
    /// Builds a deprecation. The replacement, when given, must differ from the version.
    pub fn new(
        name: ReleaseName,
        version: Version,
        reason: Reason,
        advisory: Option<Advisory>,
        replacement: Option<Version>,
    ) -> Result<Deprecation, EntryError> {
        if replacement.as_ref() == Some(&version) {
            return Err(EntryError::ReplacementIsVersion { version: version.0 });
        }
        Ok(Deprecation {
            name,
            version,
            reason,
            advisory,
            replacement,
        })
    }

    /// Parses a deprecation from a note's text.
    pub fn parse(text: &str) -> Result<Deprecation, EntryError> {
        let (type_line, lines) = split_lines(text)?;
        expect_type(type_line, DEPRECATE_TYPE)?;
        let groups = group(&lines, DEPRECATE_SLOTS, DEPRECATE_KEYS, "deprecate")?;
        let optional = |i: usize| groups[i].first().map(|l| l.value);
        Deprecation::new(
            ReleaseName::new(groups[0][0].value)?,
            Version::new(groups[1][0].value)?,
            Reason::new(groups[2][0].value)?,
            optional(3).map(Advisory::new).transpose()?,
            optional(4).map(Version::new).transpose()?,
        )
    }

    /// The canonical text of the deprecation, ready to be signed as a note.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{DEPRECATE_TYPE}\nname {}\nversion {}\nreason {}\n",
            self.name, self.version, self.reason
        );
        if let Some(advisory) = &self.advisory {
            let _ = writeln!(out, "advisory {advisory}");
        }
        if let Some(replacement) = &self.replacement {
            let _ = writeln!(out, "replacement {replacement}");
        }
        out
    }

    /// The deprecated release's name.
    pub fn name(&self) -> &ReleaseName {
        &self.name
    }

    /// The deprecated version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// Why it is deprecated.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }

    /// The advisory, if any.
    pub fn advisory(&self) -> Option<&Advisory> {
        self.advisory.as_ref()
    }

    /// The version to use instead, if any.
    pub fn replacement(&self) -> Option<&Version> {
        self.replacement.as_ref()
    }
}

/// The root keys of the key log and how many of them must sign a key event.
///
/// Canonical: keys sorted by their vkey text, no public key twice (under any name), no two
/// keys with the same key name and key ID, 1 to [`MAX_ROOTS`] keys, and
/// `1 <= threshold <= keys`. Two root sets are equal iff they have the same keys (names
/// included) and threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootSet {
    keys: Vec<Ed25519Verifier>,
    threshold: usize,
}

impl RootSet {
    /// Builds a root set, sorting the keys into canonical order.
    pub fn new(keys: Vec<Ed25519Verifier>, threshold: usize) -> Result<RootSet, EntryError> {
        if keys.len() > MAX_ROOTS {
            return Err(EntryError::TooMany {
                key: "root",
                max: MAX_ROOTS,
            });
        }
        if threshold == 0 || threshold > keys.len() {
            return Err(EntryError::ThresholdOutOfRange {
                threshold: u64::try_from(threshold).unwrap_or(u64::MAX),
                roots: keys.len(),
            });
        }
        let mut keyed: Vec<(String, Ed25519Verifier)> =
            keys.into_iter().map(|k| (k.to_vkey(), k)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (vkey, key)) in keyed.iter().enumerate() {
            for (_, earlier) in &keyed[..i] {
                if earlier.public_key() == key.public_key() {
                    return Err(EntryError::DuplicateRootKey { vkey: vkey.clone() });
                }
                if earlier.name() == key.name() && earlier.key_id() == key.key_id() {
                    return Err(EntryError::RootKeyIdCollision { vkey: vkey.clone() });
                }
            }
        }
        Ok(RootSet {
            keys: keyed.into_iter().map(|(_, k)| k).collect(),
            threshold,
        })
    }

    /// The root keys, in canonical order.
    pub fn keys(&self) -> &[Ed25519Verifier] {
        &self.keys
    }

    /// How many distinct root keys must sign a key event.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Whether a root key has this public key (under any name).
    pub fn contains_public_key(&self, public_key: &[u8; 32]) -> bool {
        self.keys.iter().any(|k| k.public_key() == public_key)
    }

    /// What differs between this root set (the expected one, such as a client's pinned roots)
    /// and `found` (such as a log's genesis), key by key (names included) and the threshold;
    /// empty iff the two are equal.
    pub fn differences(&self, found: &RootSet) -> Vec<RootSetDifference> {
        let vkeys =
            |set: &RootSet| -> Vec<String> { set.keys.iter().map(|k| k.to_vkey()).collect() };
        let (expected, actual) = (vkeys(self), vkeys(found));
        let mut out: Vec<RootSetDifference> = expected
            .iter()
            .filter(|k| !actual.contains(k))
            .map(|k| RootSetDifference::Missing(k.clone()))
            .collect();
        out.extend(
            actual
                .iter()
                .filter(|k| !expected.contains(k))
                .map(|k| RootSetDifference::Extra(k.clone())),
        );
        if self.threshold != found.threshold {
            out.push(RootSetDifference::Threshold {
                expected: self.threshold,
                found: found.threshold,
            });
        }
        out
    }
}

/// One difference between an expected root set and one found (see [`RootSet::differences`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootSetDifference {
    /// An expected root key (vkey) that the found set lacks.
    Missing(String),
    /// A root key (vkey) of the found set that was not expected.
    Extra(String),
    /// The thresholds differ.
    Threshold {
        /// The expected threshold.
        expected: usize,
        /// The threshold found.
        found: usize,
    },
}

impl std::fmt::Display for RootSetDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootSetDifference::Missing(k) => write!(f, "root key {k} is missing"),
            RootSetDifference::Extra(k) => write!(f, "root key {k} is extra"),
            RootSetDifference::Threshold { expected, found } => {
                write!(f, "threshold {found} instead of {expected}")
            }
        }
    }
}

/// A key-log event (`cairn/key/v1`). Every field is a validated type, so any value of this
/// enum formats to an entry the parser accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEvent {
    /// Sets the root keys and threshold (the genesis event, or a root change).
    Root {
        /// The new root set.
        roots: RootSet,
        /// Optional explanation.
        reason: Option<Reason>,
    },
    /// Adds a release key.
    Add {
        /// The release key.
        key: Ed25519Verifier,
        /// Which release names it may sign.
        scope: Scope,
        /// The first release-log index it may sign.
        from: u64,
        /// Optional explanation.
        reason: Option<Reason>,
    },
    /// Retires a release key (planned end of use).
    Retire {
        /// The release key.
        key: Ed25519Verifier,
        /// The key signs nothing at or after this release-log index.
        until: u64,
        /// Why.
        reason: Reason,
    },
    /// Revokes a release key (compromise).
    Revoke {
        /// The release key.
        key: Ed25519Verifier,
        /// The key signs nothing at or after this release-log index (0: never valid).
        until: u64,
        /// Why.
        reason: Reason,
    },
    /// Pins a Sigstore trusted root for releases from a release-log index on.
    SigstoreRoot {
        /// The first release-log index the root applies to.
        from: u64,
        /// The `trusted_root.json` bytes, at most [`MAX_PINNED_TRUSTED_ROOT_SIZE`].
        trusted_root: Vec<u8>,
        /// Optional explanation.
        reason: Option<Reason>,
    },
    /// Grants a release scope to a Sigstore identity.
    AddIdentity {
        /// The OIDC issuer, compared exactly.
        issuer: OidcIssuer,
        /// The identity or identity pattern.
        identity: IdentityMatcher,
        /// Which release names it may authorise.
        scope: Scope,
        /// The first release-log index it may authorise.
        from: u64,
        /// Optional explanation.
        reason: Option<Reason>,
    },
    /// Retires a Sigstore identity grant (planned end of use).
    RetireIdentity {
        /// The grant's issuer.
        issuer: OidcIssuer,
        /// The grant's identity, spelled as in its `add-identity`.
        identity: IdentityMatcher,
        /// The grant authorises nothing at or after this release-log index.
        until: u64,
        /// Why.
        reason: Reason,
    },
    /// Revokes a Sigstore identity grant (compromise).
    RevokeIdentity {
        /// The grant's issuer.
        issuer: OidcIssuer,
        /// The grant's identity, spelled as in its `add-identity`.
        identity: IdentityMatcher,
        /// The grant authorises nothing at or after this release-log index (0: never valid).
        until: u64,
        /// Why.
        reason: Reason,
    },
}

impl KeyEvent {
    /// The event kind as the `event` line spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyEvent::Root { .. } => "root",
            KeyEvent::Add { .. } => "add",
            KeyEvent::Retire { .. } => "retire",
            KeyEvent::Revoke { .. } => "revoke",
            KeyEvent::SigstoreRoot { .. } => "sigstore-root",
            KeyEvent::AddIdentity { .. } => "add-identity",
            KeyEvent::RetireIdentity { .. } => "retire-identity",
            KeyEvent::RevokeIdentity { .. } => "revoke-identity",
        }
    }

    /// Parses a key event from a note's text.
    pub fn parse(text: &str) -> Result<KeyEvent, EntryError> {
        let (type_line, lines) = split_lines(text)?;
        expect_type(type_line, KEY_TYPE)?;
        let kind = match lines.first() {
            Some(first) if first.key == "event" => first.value,
            Some(first) if !KEY_KEYS.contains(&first.key) => {
                return Err(EntryError::UnknownKey {
                    line: first.no,
                    key: shown(first.key),
                });
            }
            _ => {
                return Err(match lines.iter().find(|l| l.key == "event") {
                    Some(late) => EntryError::OutOfOrder {
                        line: late.no,
                        key: "event",
                    },
                    None => EntryError::MissingKey { key: "event" },
                });
            }
        };
        match kind {
            "root" => {
                let groups = group(&lines, ROOT_SLOTS, KEY_KEYS, "root")?;
                let mut keys = Vec::with_capacity(groups[1].len());
                for (i, line) in groups[1].iter().enumerate() {
                    if i > 0 && groups[1][i - 1].value >= line.value {
                        return Err(if groups[1][i - 1].value == line.value {
                            EntryError::DuplicateRootKey {
                                vkey: shown(line.value),
                            }
                        } else {
                            EntryError::NotSorted {
                                line: line.no,
                                key: "root",
                            }
                        });
                    }
                    keys.push(parse_vkey(line.value)?);
                }
                let threshold = parse_decimal("threshold", groups[2][0].value)?;
                let threshold = usize::try_from(threshold)
                    .ok()
                    .filter(|&t| t <= keys.len())
                    .ok_or(EntryError::ThresholdOutOfRange {
                        threshold,
                        roots: keys.len(),
                    })?;
                Ok(KeyEvent::Root {
                    roots: RootSet::new(keys, threshold)?,
                    reason: optional_reason(groups[3])?,
                })
            }
            "add" => {
                let groups = group(&lines, ADD_SLOTS, KEY_KEYS, "add")?;
                Ok(KeyEvent::Add {
                    key: parse_vkey(groups[1][0].value)?,
                    scope: Scope::new(groups[2][0].value)?,
                    from: parse_decimal("from", groups[3][0].value)?,
                    reason: optional_reason(groups[4])?,
                })
            }
            "retire" | "revoke" => {
                let event = if kind == "retire" { "retire" } else { "revoke" };
                let groups = group(&lines, END_SLOTS, KEY_KEYS, event)?;
                let key = parse_vkey(groups[1][0].value)?;
                let until = parse_decimal("until", groups[2][0].value)?;
                let reason = Reason::new(groups[3][0].value)?;
                Ok(if event == "retire" {
                    KeyEvent::Retire { key, until, reason }
                } else {
                    KeyEvent::Revoke { key, until, reason }
                })
            }
            "sigstore-root" => {
                let groups = group(&lines, SIGSTORE_ROOT_SLOTS, KEY_KEYS, "sigstore-root")?;
                let from = parse_decimal("from", groups[1][0].value)?;
                let digest = Sha256Digest::parse(groups[2][0].value)?;
                let trusted_root = decode_trusted_root(groups[3])?;
                if Sha256Digest::of(&trusted_root) != digest {
                    return Err(EntryError::InvalidTrustedRoot {
                        why: "trusted-root-digest is not the SHA-256 of the trusted-root lines",
                    });
                }
                Ok(KeyEvent::SigstoreRoot {
                    from,
                    trusted_root,
                    reason: optional_reason(groups[4])?,
                })
            }
            "add-identity" => {
                let groups = group(&lines, ADD_IDENTITY_SLOTS, KEY_KEYS, "add-identity")?;
                Ok(KeyEvent::AddIdentity {
                    issuer: OidcIssuer::new(groups[1][0].value)?,
                    identity: parse_identity_pattern(groups[2][0].value)?,
                    scope: Scope::new(groups[3][0].value)?,
                    from: parse_decimal("from", groups[4][0].value)?,
                    reason: optional_reason(groups[5])?,
                })
            }
            "retire-identity" | "revoke-identity" => {
                let event = if kind == "retire-identity" {
                    "retire-identity"
                } else {
                    "revoke-identity"
                };
                let groups = group(&lines, IDENTITY_END_SLOTS, KEY_KEYS, event)?;
                let issuer = OidcIssuer::new(groups[1][0].value)?;
                let identity = parse_identity_pattern(groups[2][0].value)?;
                let until = parse_decimal("until", groups[3][0].value)?;
                let reason = Reason::new(groups[4][0].value)?;
                Ok(if event == "retire-identity" {
                    KeyEvent::RetireIdentity {
                        issuer,
                        identity,
                        until,
                        reason,
                    }
                } else {
                    KeyEvent::RevokeIdentity {
                        issuer,
                        identity,
                        until,
                        reason,
                    }
                })
            }
            other => Err(EntryError::InvalidEvent {
                value: shown(other),
            }),
        }
    }

    /// The canonical text of the event, ready to be signed by root keys.
    pub fn to_text(&self) -> String {
        let mut out = format!("{KEY_TYPE}\nevent {}\n", self.kind());
        let reason = match self {
            KeyEvent::Root { roots, reason } => {
                for key in roots.keys() {
                    let _ = writeln!(out, "root {}", key.to_vkey());
                }
                let _ = writeln!(out, "threshold {}", roots.threshold());
                reason.as_ref()
            }
            KeyEvent::Add {
                key,
                scope,
                from,
                reason,
            } => {
                let _ = writeln!(out, "key {}\nscope {scope}\nfrom {from}", key.to_vkey());
                reason.as_ref()
            }
            KeyEvent::Retire { key, until, reason } | KeyEvent::Revoke { key, until, reason } => {
                let _ = writeln!(out, "key {}\nuntil {until}", key.to_vkey());
                Some(reason)
            }
            KeyEvent::SigstoreRoot {
                from,
                trusted_root,
                reason,
            } => {
                let _ = writeln!(
                    out,
                    "from {from}\ntrusted-root-digest {}",
                    Sha256Digest::of(trusted_root)
                );
                let encoded = STANDARD.encode(trusted_root);
                for chunk in encoded.as_bytes().chunks(TRUSTED_ROOT_LINE_CHARS) {
                    // Base64 is ASCII, so every chunk is valid UTF-8.
                    let _ = writeln!(out, "trusted-root {}", String::from_utf8_lossy(chunk));
                }
                reason.as_ref()
            }
            KeyEvent::AddIdentity {
                issuer,
                identity,
                scope,
                from,
                reason,
            } => {
                let _ = writeln!(
                    out,
                    "issuer {issuer}\nidentity {identity}\nscope {scope}\nfrom {from}"
                );
                reason.as_ref()
            }
            KeyEvent::RetireIdentity {
                issuer,
                identity,
                until,
                reason,
            }
            | KeyEvent::RevokeIdentity {
                issuer,
                identity,
                until,
                reason,
            } => {
                let _ = writeln!(out, "issuer {issuer}\nidentity {identity}\nuntil {until}");
                Some(reason)
            }
        };
        if let Some(reason) = reason {
            let _ = writeln!(out, "reason {reason}");
        }
        out
    }
}

/// Builds a `sigstore-root` event, checking the trusted root's size (its content is the
/// Sigstore verifier's business: the core has no JSON parser).
pub fn sigstore_root_event(
    from: u64,
    trusted_root: Vec<u8>,
    reason: Option<Reason>,
) -> Result<KeyEvent, EntryError> {
    if trusted_root.is_empty() || trusted_root.len() > MAX_PINNED_TRUSTED_ROOT_SIZE {
        return Err(EntryError::InvalidTrustedRoot {
            why: "a pinned trusted root is 1 to 23040 bytes",
        });
    }
    Ok(KeyEvent::SigstoreRoot {
        from,
        trusted_root,
        reason,
    })
}

/// The trusted root carried by `trusted-root` lines: canonical padded base64 in lines of
/// exactly [`TRUSTED_ROOT_LINE_CHARS`] characters, the last one 4 to that many.
fn decode_trusted_root(lines: &[Line<'_>]) -> Result<Vec<u8>, EntryError> {
    let mut encoded = String::with_capacity(lines.len() * TRUSTED_ROOT_LINE_CHARS);
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        if line.value.len() > TRUSTED_ROOT_LINE_CHARS
            || (!last && line.value.len() != TRUSTED_ROOT_LINE_CHARS)
        {
            return Err(EntryError::InvalidTrustedRoot {
                why: "every trusted-root line but the last has exactly 480 base64 characters",
            });
        }
        encoded.push_str(line.value);
    }
    let bytes = STANDARD
        .decode(&encoded)
        .map_err(|_| EntryError::InvalidTrustedRoot {
            why: "trusted-root lines are not standard padded base64",
        })?;
    if STANDARD.encode(&bytes) != encoded {
        return Err(EntryError::InvalidTrustedRoot {
            why: "trusted-root base64 is not canonical",
        });
    }
    Ok(bytes)
}

fn optional_reason(lines: &[Line<'_>]) -> Result<Option<Reason>, EntryError> {
    lines.first().map(|l| Reason::new(l.value)).transpose()
}

/// Any Cairn log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A release statement.
    Release(Release),
    /// A deprecation.
    Deprecation(Deprecation),
    /// A key-log event.
    Key(KeyEvent),
}

impl Entry {
    /// Parses any entry type from a note's text, dispatching on the type line.
    pub fn parse(text: &str) -> Result<Entry, EntryError> {
        if text.len() > MAX_ENTRY_TEXT_SIZE {
            return Err(EntryError::TooLarge { size: text.len() });
        }
        let type_line = text.split('\n').next().unwrap_or(text);
        match type_line {
            RELEASE_TYPE => Release::parse(text).map(Entry::Release),
            DEPRECATE_TYPE => Deprecation::parse(text).map(Entry::Deprecation),
            KEY_TYPE => KeyEvent::parse(text).map(Entry::Key),
            // Run the generic checks first so that, say, a control character is reported as
            // such rather than as an unknown type.
            _ => split_lines(text).and_then(|_| {
                Err(EntryError::UnknownType {
                    found: shown(type_line),
                })
            }),
        }
    }

    /// The canonical text of the entry.
    pub fn to_text(&self) -> String {
        match self {
            Entry::Release(r) => r.to_text(),
            Entry::Deprecation(d) => d.to_text(),
            Entry::Key(k) => k.to_text(),
        }
    }
}

/// One `key value` line.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    /// 1-based line number in the text (the type line is line 1).
    no: usize,
    key: &'a str,
    value: &'a str,
}

/// Checks the size caps, the character set and the spacing rules, then splits the text into
/// its type line and its `key value` lines.
fn split_lines(text: &str) -> Result<(&str, Vec<Line<'_>>), EntryError> {
    if text.len() > MAX_ENTRY_TEXT_SIZE {
        return Err(EntryError::TooLarge { size: text.len() });
    }
    // One pass over the bytes bounds the line count and line lengths before any allocation.
    let mut line_start = 0;
    let mut newlines = 0;
    for (offset, &byte) in text.as_bytes().iter().enumerate() {
        if byte == b'\n' {
            newlines += 1;
            if newlines > MAX_ENTRY_LINES {
                return Err(EntryError::TooManyLines);
            }
            line_start = offset + 1;
        } else if !(b' '..=b'~').contains(&byte) {
            return Err(EntryError::NotPrintableAscii { offset, byte });
        } else if offset - line_start >= MAX_LINE_SIZE {
            return Err(EntryError::LineTooLong { line: newlines + 1 });
        }
    }
    if !text.ends_with('\n') {
        return Err(EntryError::NoFinalNewline);
    }
    let mut type_line = "";
    let mut lines = Vec::with_capacity(newlines);
    for (i, raw) in text.split_terminator('\n').enumerate() {
        let no = i + 1;
        if raw.is_empty() {
            return Err(EntryError::EmptyLine { line: no });
        }
        if raw.starts_with(' ') || raw.ends_with(' ') || raw.contains("  ") {
            return Err(EntryError::BadSpacing { line: no });
        }
        if i == 0 {
            type_line = raw;
            continue;
        }
        let (key, value) = raw
            .split_once(' ')
            .ok_or(EntryError::MalformedLine { line: no })?;
        lines.push(Line { no, key, value });
    }
    Ok((type_line, lines))
}

fn expect_type(found: &str, expected: &'static str) -> Result<(), EntryError> {
    if found == expected {
        Ok(())
    } else {
        Err(EntryError::WrongType {
            expected,
            found: shown(found),
        })
    }
}

/// One position of a grammar's fixed line order: a key and how many lines of it may follow
/// each other there.
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: &'static str,
    min: usize,
    max: usize,
}

const fn one(key: &'static str) -> Slot {
    Slot {
        key,
        min: 1,
        max: 1,
    }
}

const fn optional(key: &'static str) -> Slot {
    Slot {
        key,
        min: 0,
        max: 1,
    }
}

const RELEASE_SLOTS: &[Slot] = &[
    one("name"),
    one("version"),
    Slot {
        key: "artifact",
        min: 1,
        max: MAX_ARTIFACTS,
    },
    Slot {
        key: "manifest",
        min: 0,
        max: MAX_MANIFESTS,
    },
    optional("sigstore"),
];
const RELEASE_KEYS: &[&str] = &["name", "version", "artifact", "manifest", "sigstore"];

const DEPRECATE_SLOTS: &[Slot] = &[
    one("name"),
    one("version"),
    one("reason"),
    optional("advisory"),
    optional("replacement"),
];
const DEPRECATE_KEYS: &[&str] = &["name", "version", "reason", "advisory", "replacement"];

const KEY_KEYS: &[&str] = &[
    "event",
    "key",
    "scope",
    "from",
    "until",
    "root",
    "threshold",
    "issuer",
    "identity",
    "trusted-root-digest",
    "trusted-root",
    "reason",
];
const ROOT_SLOTS: &[Slot] = &[
    one("event"),
    Slot {
        key: "root",
        min: 1,
        max: MAX_ROOTS,
    },
    one("threshold"),
    optional("reason"),
];
const ADD_SLOTS: &[Slot] = &[
    one("event"),
    one("key"),
    one("scope"),
    one("from"),
    optional("reason"),
];
const END_SLOTS: &[Slot] = &[one("event"), one("key"), one("until"), one("reason")];
const SIGSTORE_ROOT_SLOTS: &[Slot] = &[
    one("event"),
    one("from"),
    one("trusted-root-digest"),
    Slot {
        key: "trusted-root",
        min: 1,
        max: MAX_TRUSTED_ROOT_LINES,
    },
    optional("reason"),
];
const ADD_IDENTITY_SLOTS: &[Slot] = &[
    one("event"),
    one("issuer"),
    one("identity"),
    one("scope"),
    one("from"),
    optional("reason"),
];
const IDENTITY_END_SLOTS: &[Slot] = &[
    one("event"),
    one("issuer"),
    one("identity"),
    one("until"),
    one("reason"),
];

/// Splits `lines` into one run of consecutive lines per slot, enforcing the fixed order and
/// the counts. Returns exactly one (possibly empty) slice per slot; a slot with `min >= 1`
/// gets a non-empty slice.
fn group<'l, 'a>(
    lines: &'l [Line<'a>],
    slots: &[Slot],
    vocabulary: &[&'static str],
    context: &'static str,
) -> Result<Vec<&'l [Line<'a>]>, EntryError> {
    let mut groups: Vec<&[Line<'a>]> = Vec::with_capacity(slots.len());
    let mut at = 0;
    for (position, slot) in slots.iter().enumerate() {
        let start = at;
        while lines.get(at).is_some_and(|l| l.key == slot.key) {
            at += 1;
        }
        let count = at - start;
        if count > slot.max {
            return Err(if slot.max == 1 {
                EntryError::DuplicateKey {
                    line: lines[start + 1].no,
                    key: slot.key,
                }
            } else {
                EntryError::TooMany {
                    key: slot.key,
                    max: slot.max,
                }
            });
        }
        if count < slot.min {
            let Some(next) = lines.get(at) else {
                return Err(EntryError::MissingKey { key: slot.key });
            };
            let next_slot = slots.iter().position(|s| s.key == next.key);
            return Err(match next_slot {
                // The next line belongs further down: this slot's key is either later in the
                // text (out of order) or absent.
                Some(j) if j > position => match lines[at..].iter().find(|l| l.key == slot.key) {
                    Some(late) => EntryError::OutOfOrder {
                        line: late.no,
                        key: slot.key,
                    },
                    None => EntryError::MissingKey { key: slot.key },
                },
                _ => misplaced(next, slots, &groups, vocabulary, context),
            });
        }
        groups.push(&lines[start..at]);
    }
    match lines.get(at) {
        Some(extra) => Err(misplaced(extra, slots, &groups, vocabulary, context)),
        None => Ok(groups),
    }
}

/// Classifies a line that cannot go where it stands: unknown key, key of another event kind,
/// repetition of a single-line key, or a known key out of order.
fn misplaced(
    line: &Line<'_>,
    slots: &[Slot],
    groups: &[&[Line<'_>]],
    vocabulary: &[&'static str],
    context: &'static str,
) -> EntryError {
    let Some(&key) = vocabulary.iter().find(|k| **k == line.key) else {
        return EntryError::UnknownKey {
            line: line.no,
            key: shown(line.key),
        };
    };
    match slots.iter().position(|s| s.key == key) {
        None => EntryError::KeyNotAllowed {
            line: line.no,
            key,
            event: context,
        },
        Some(j) if slots[j].max == 1 && groups.get(j).is_some_and(|g| !g.is_empty()) => {
            EntryError::DuplicateKey { line: line.no, key }
        }
        Some(_) => EntryError::OutOfOrder { line: line.no, key },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: u8) -> Sha256Digest {
        Sha256Digest::from_bytes([byte; 32])
    }

    fn file(byte: u8, size: u64, name: &str) -> FileRef {
        FileRef {
            digest: digest(byte),
            size,
            file_name: FileName::new(name).expect("valid file name"),
        }
    }

    fn release_text() -> String {
        format!(
            "cairn/release/v1\nname hardenedbsd/installer-amd64\nversion 14.2-20261120\n\
             artifact {} 1024 a.img\nartifact {} 0 b.iso\nmanifest {} 7 sbom.json\n",
            digest(1),
            digest(2),
            digest(3)
        )
    }

    #[test]
    fn decompressed_lines_belong_to_their_artifact() {
        let d = |b: u8, size: u64| Decompressed {
            digest: digest(b),
            size,
        };
        let built = Release::new(
            ReleaseName::new("example/os").expect("name"),
            Version::new("1.0").expect("version"),
            vec![
                file(2, 10, "b.raw.zst"),
                file(1, 20, "a.raw.xz"),
                file(4, 5, "c.txt"),
            ],
            vec![file(3, 7, "sbom.json")],
        )
        .expect("builds")
        .with_decompressed(&FileName::new("b.raw.zst").expect("name"), d(5, 4096))
        .expect("b")
        .with_decompressed(&FileName::new("a.raw.xz").expect("name"), d(6, 8192))
        .expect("a");
        let text = built.to_text();
        assert_eq!(
            text,
            format!(
                "cairn/release/v1\nname example/os\nversion 1.0\n\
                 artifact {} 20 a.raw.xz\ndecompressed {} 8192\n\
                 artifact {} 10 b.raw.zst\ndecompressed {} 4096\n\
                 artifact {} 5 c.txt\nmanifest {} 7 sbom.json\n",
                digest(1),
                digest(6),
                digest(2),
                digest(5),
                digest(4),
                digest(3)
            )
        );
        let parsed = Release::parse(&text).expect("parses");
        assert_eq!(parsed, built);
        let name = |n: &str| FileName::new(n).expect("name");
        assert_eq!(parsed.decompressed(&name("a.raw.xz")), Some(&d(6, 8192)));
        assert_eq!(parsed.decompressed(&name("b.raw.zst")), Some(&d(5, 4096)));
        assert_eq!(parsed.decompressed(&name("c.txt")), None);
        // Only an artifact of the release can have one.
        assert!(
            parsed
                .clone()
                .with_decompressed(&name("sbom.json"), d(1, 1))
                .is_err()
        );
    }

    #[test]
    fn release_round_trips_and_builder_sorts() {
        let text = release_text();
        let parsed = Release::parse(&text).expect("parses");
        assert_eq!(parsed.to_text(), text);
        let built = Release::new(
            ReleaseName::new("hardenedbsd/installer-amd64").expect("name"),
            Version::new("14.2-20261120").expect("version"),
            vec![file(2, 0, "b.iso"), file(1, 1024, "a.img")],
            vec![file(3, 7, "sbom.json")],
        )
        .expect("builds");
        assert_eq!(built, parsed);
        assert_eq!(
            parsed
                .find_file(&digest(2), 0)
                .map(|f| f.file_name.as_str()),
            Some("b.iso")
        );
        assert!(parsed.find_file(&digest(2), 1).is_none());
    }

    #[test]
    fn scope_glob_stays_within_a_segment() {
        let name = |n: &str| ReleaseName::new(n).expect("name");
        let scope = |s: &str| Scope::new(s).expect("scope");
        assert!(scope("hardenedbsd/*").matches(&name("hardenedbsd/installer-amd64")));
        assert!(!scope("hardenedbsd/*").matches(&name("hardenedbsd")));
        assert!(!scope("hardenedbsd/*").matches(&name("hardenedbsd/a/b")));
        assert!(scope("*").matches(&name("x")));
        assert!(!scope("*").matches(&name("x/y")));
        assert!(scope("*/*").matches(&name("x/y")));
        assert!(scope("hardenedbsd/installer-*").matches(&name("hardenedbsd/installer-amd64")));
        assert!(scope("hardenedbsd/installer-*").matches(&name("hardenedbsd/installer-")));
        assert!(!scope("hardenedbsd/installer-*").matches(&name("hardenedbsd/base-amd64")));
        assert!(scope("a/*-*-amd64").matches(&name("a/b-c-d-amd64")));
        assert!(!scope("a/*-*-amd64").matches(&name("a/b-amd64")));
        assert!(scope("a/*x*y").matches(&name("a/axbxy")));
        assert!(scope("exact/name").matches(&name("exact/name")));
        assert!(!scope("exact/name").matches(&name("exact/names")));
        for bad in ["", "a//b", "/a", "a/", "a/**", "A/*", "a/-x", "a/.x", "a b"] {
            assert!(Scope::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn dangerous_file_names_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-rf",
            "a/b",
            "a\\b",
            "c:x",
            "a b",
            "a\u{202e}b",
            "a~1.img",
            "trailing.",
            "CON",
            "con.txt",
            "Lpt1.img",
            "x.img.tlog-proof",
            "X.TLOG-PROOF",
            "a*",
            "$HOME",
        ] {
            assert!(FileName::new(bad).is_err(), "{bad:?} accepted");
        }
        let long = "a".repeat(MAX_FILE_NAME_SIZE + 1);
        assert!(FileName::new(&long).is_err());
        for good in [
            "a",
            "HardenedBSD-14-amd64.img",
            "sbom.spdx.json",
            "x_1+2-3",
            "console.img",
            "nul0",
        ] {
            assert!(FileName::new(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn case_insensitive_duplicate_file_names_are_refused() {
        let err = Release::new(
            ReleaseName::new("a").expect("name"),
            Version::new("1").expect("version"),
            vec![file(1, 1, "A.img")],
            vec![file(2, 1, "a.img")],
        );
        assert!(matches!(err, Err(EntryError::DuplicateFileName { .. })));
    }

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(parse_decimal("size", "0"), Ok(0));
        assert_eq!(parse_decimal("size", "18446744073709551615"), Ok(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            "1.0",
            "18446744073709551616",
            "1e3",
            " 1",
        ] {
            assert!(parse_decimal("size", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn maximal_release_fits_the_text_cap() {
        let long = |i: usize| {
            let mut name = format!("{i:03}");
            name.push_str(&"a".repeat(MAX_FILE_NAME_SIZE - 3));
            name
        };
        let artifacts = (0..MAX_ARTIFACTS)
            .map(|i| FileRef {
                digest: digest(0xff),
                size: u64::MAX,
                file_name: FileName::new(&long(i)).expect("name"),
            })
            .collect();
        let manifests = (MAX_ARTIFACTS..MAX_ARTIFACTS + MAX_MANIFESTS)
            .map(|i| FileRef {
                digest: digest(0xff),
                size: u64::MAX,
                file_name: FileName::new(&long(i)).expect("name"),
            })
            .collect();
        let release = Release::new(
            ReleaseName::new(&"a".repeat(MAX_RELEASE_NAME_SIZE)).expect("name"),
            Version::new(&"1".repeat(MAX_VERSION_SIZE)).expect("version"),
            artifacts,
            manifests,
        )
        .expect("builds");
        let text = release.to_text();
        assert!(text.len() <= MAX_ENTRY_TEXT_SIZE);
        assert_eq!(Release::parse(&text), Ok(release));
    }

    #[test]
    fn misplaced_lines_get_precise_errors() {
        let d = digest(1);
        let cases: Vec<(String, EntryError)> = vec![
            (
                format!("cairn/release/v1\nversion 1\nname a\nartifact {d} 1 a\n"),
                EntryError::OutOfOrder {
                    line: 3,
                    key: "name",
                },
            ),
            (
                format!("cairn/release/v1\nname a\nname a\nversion 1\nartifact {d} 1 a\n"),
                EntryError::DuplicateKey {
                    line: 3,
                    key: "name",
                },
            ),
            (
                format!("cairn/release/v1\nname a\nversion 1\nartifact {d} 1 a\nversion 1\n"),
                EntryError::DuplicateKey {
                    line: 5,
                    key: "version",
                },
            ),
            (
                "cairn/release/v1\nname a\nversion 1\n".to_owned(),
                EntryError::MissingKey { key: "artifact" },
            ),
            (
                format!("cairn/release/v1\nname a\nversion 1\nmanifest {d} 1 m\n"),
                EntryError::MissingKey { key: "artifact" },
            ),
            (
                format!(
                    "cairn/release/v1\nname a\nversion 1\nmanifest {d} 1 m\nartifact {d} 1 a\n"
                ),
                EntryError::OutOfOrder {
                    line: 5,
                    key: "artifact",
                },
            ),
            (
                format!("cairn/release/v1\nname a\nversion 1\nsigner x\nartifact {d} 1 a\n"),
                EntryError::UnknownKey {
                    line: 4,
                    key: "signer".into(),
                },
            ),
            (
                "cairn/key/v1\nevent retire\nscope a\n".to_owned(),
                EntryError::KeyNotAllowed {
                    line: 3,
                    key: "scope",
                    event: "retire",
                },
            ),
            (
                "cairn/key/v1\nkey x\nevent add\n".to_owned(),
                EntryError::OutOfOrder {
                    line: 3,
                    key: "event",
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Entry::parse(&text), Err(want), "{text}");
        }
    }

    #[test]
    fn root_set_refuses_duplicates_and_bad_thresholds() {
        use crate::note::{Ed25519Signer, KeyName};
        let key = |name: &str, seed: u8| {
            Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32]).verifier()
        };
        let a = key("a", 1);
        let b = key("b", 2);
        let a_renamed = key("c", 1);
        assert!(matches!(
            RootSet::new(vec![a.clone(), a_renamed], 1),
            Err(EntryError::DuplicateRootKey { .. })
        ));
        assert!(matches!(
            RootSet::new(vec![a.clone(), b.clone()], 0),
            Err(EntryError::ThresholdOutOfRange {
                threshold: 0,
                roots: 2
            })
        ));
        assert!(matches!(
            RootSet::new(vec![a.clone(), b.clone()], 3),
            Err(EntryError::ThresholdOutOfRange {
                threshold: 3,
                roots: 2
            })
        ));
        assert!(matches!(
            RootSet::new(vec![], 1),
            Err(EntryError::ThresholdOutOfRange { .. })
        ));
        let set = RootSet::new(vec![b.clone(), a.clone()], 2).expect("valid");
        assert_eq!(set, RootSet::new(vec![a, b], 2).expect("valid"));
    }

    #[test]
    fn root_set_differences_name_each_key_and_the_threshold() {
        use crate::note::{Ed25519Signer, KeyName};
        let key = |name: &str, seed: u8| {
            Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32]).verifier()
        };
        let (a, b, c) = (key("a", 1), key("b", 2), key("c", 3));
        let given = RootSet::new(vec![a.clone(), b.clone()], 1).expect("valid");
        let genesis = RootSet::new(vec![b.clone(), c.clone()], 2).expect("valid");
        assert_eq!(
            given.differences(&genesis),
            vec![
                RootSetDifference::Missing(a.to_vkey()),
                RootSetDifference::Extra(c.to_vkey()),
                RootSetDifference::Threshold {
                    expected: 1,
                    found: 2
                },
            ]
        );
        assert!(given.differences(&given).is_empty());
        // The same public key under another name is a different root key.
        let renamed = RootSet::new(vec![key("a2", 1), b], 1).expect("valid");
        assert_eq!(given.differences(&renamed).len(), 2);
    }
}
