//! What is inside a certificate or key file, and errors that name the flag and the file.
//!
//! People pass this tool files from many places: the AWS IoT console (PEM), `openssl` (PEM, or
//! DER with `-outform der`), Windows exports (DER `.cer`, PKCS#12 `.pfx`). TLS libraries want
//! *DER*, the binary ASN.1 encoding. *PEM* is the same DER in base64 between
//! `-----BEGIN <LABEL>-----` and `-----END <LABEL>-----` lines, and the label says what the bytes
//! are. So every file is read the same way: split into [`Block`]s sorted by what they hold, and
//! the caller takes the block it wants. When that block is missing, the blocks that *are* there
//! make the best hint: a private key given as `--cert` most likely means the flags were swapped.
//!
//! A DER file has no label, so we try the structures it could be, strictest first. Its first byte
//! is `0x30` (an ASN.1 SEQUENCE), which no text file starts with.
//!
//! Nothing read from a file ever goes into a message: only the flag, the path and the labels.

use std::fmt;
use std::io::ErrorKind;
use std::path::Path;

use pkcs8::der::Decode;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::failure::Failure;

/// A flag and the file it names: the first words of every message about that file.
#[derive(Debug, Clone, Copy)]
pub struct InputFile<'a> {
    pub flag: &'static str,
    pub path: &'a Path,
}

impl InputFile<'_> {
    /// An input failure (exit 2) reading `--flag path: problem`.
    pub fn error(&self, problem: impl fmt::Display) -> Failure {
        Failure::input(format!("{} {}: {problem}", self.flag, self.path.display()))
    }

    /// The path, quoted for a shell command we suggest (paths with spaces are common on laptops).
    pub fn shell_path(&self) -> String {
        shell_quote(&self.path.display().to_string())
    }
}

/// `word` as a POSIX shell would need it in a command line we print: as it is when that is safe,
/// else in single quotes (inside which `$`, spaces and `*` mean nothing to the shell).
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// One block of a file, sorted by what it holds.
pub enum Block {
    Certificate(CertificateDer<'static>),
    PrivateKey(PrivateKeyDer<'static>),
    /// PKCS#8 `EncryptedPrivateKeyInfo` (`BEGIN ENCRYPTED PRIVATE KEY`), DER, still encrypted.
    EncryptedPrivateKey(Vec<u8>),
    /// OpenSSL's older encryption: a `BEGIN RSA/EC PRIVATE KEY` block with `Proc-Type: 4,ENCRYPTED`.
    LegacyEncryptedKey,
    /// PKCS#12 (`.p12`, `.pfx`): certificate and key in one password-protected bundle.
    Pkcs12,
    /// Anything else, by its PEM label (`PUBLIC KEY`, `CERTIFICATE REQUEST`, ...).
    Other(String),
}

impl Block {
    /// True for every form of private key, usable or not.
    pub fn is_private_key(&self) -> bool {
        matches!(
            self,
            Block::PrivateKey(_) | Block::EncryptedPrivateKey(_) | Block::LegacyEncryptedKey
        )
    }
}

/// Reads `file` and splits it into blocks: the PEM sections in order, or the one DER structure.
///
/// Fails, naming the flag and the file, when the file cannot be read, is empty, or is neither PEM
/// nor DER. An empty list is never returned.
pub fn read_blocks(file: InputFile) -> Result<Vec<Block>, Failure> {
    let bytes = read(file)?;
    if contains(&bytes, b"-----BEGIN ") {
        pem_blocks(file, &bytes)
    } else if bytes.first() == Some(&0x30) {
        Ok(vec![der_block(file, bytes)?])
    } else {
        Err(file.error(
            "neither PEM nor DER; expected a text file with a '-----BEGIN ...-----' line \
             (if it is base64 without the BEGIN/END lines, it was copied incompletely)",
        ))
    }
}

/// The file's bytes, or why they cannot be had in words a user can act on.
fn read(file: InputFile) -> Result<Vec<u8>, Failure> {
    if file.path.is_dir() {
        return Err(file.error("is a directory; pass the file inside it"));
    }
    let bytes = std::fs::read(file.path).map_err(|e| {
        file.error(match e.kind() {
            ErrorKind::NotFound => "cannot read the file: it does not exist; check the path".into(),
            ErrorKind::PermissionDenied => format!(
                "cannot read the file: permission denied; make it readable by this user \
                 (e.g. `chmod u+r {}`)",
                file.shell_path()
            ),
            _ => format!("cannot read the file ({e})"),
        })
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(file.error("the file is empty"));
    }
    Ok(bytes)
}

fn pem_blocks(file: InputFile, bytes: &[u8]) -> Result<Vec<Block>, Failure> {
    // The parser's own error names a byte and an offset in the base64; a key's bytes must not
    // reach the terminal, so we say what is wrong in our words instead.
    let sections = pem::parse_many(bytes).map_err(|e| {
        file.error(match e {
            pem::PemError::MismatchedTags(begin, end) => format!(
                "damaged PEM: a '-----BEGIN {begin}-----' block ends with '-----END {end}-----'"
            ),
            _ => "damaged PEM: a block's base64 data is invalid; the file was edited or cut".into(),
        })
    })?;
    // A block without its END line is skipped silently by the parser: count BEGIN lines instead,
    // or a CA bundle cut short would quietly lose its last certificate.
    if sections.len() != count(bytes, b"-----BEGIN ") {
        return Err(file.error(
            "damaged PEM: a '-----BEGIN' line has no matching '-----END' line; the file was cut short",
        ));
    }
    Ok(sections.into_iter().map(pem_block).collect())
}

fn pem_block(section: pem::Pem) -> Block {
    // `Proc-Type: 4,ENCRYPTED` marks OpenSSL's pre-PKCS#8 encryption (see key.rs).
    let legacy_encrypted = section
        .headers()
        .get("Proc-Type")
        .is_some_and(|value| value.contains("ENCRYPTED"));
    match section.tag() {
        "CERTIFICATE" => Block::Certificate(section.into_contents().into()),
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "DSA PRIVATE KEY" if legacy_encrypted => {
            Block::LegacyEncryptedKey
        }
        "PRIVATE KEY" => Block::PrivateKey(PrivateKeyDer::Pkcs8(section.into_contents().into())),
        "RSA PRIVATE KEY" => {
            Block::PrivateKey(PrivateKeyDer::Pkcs1(section.into_contents().into()))
        }
        "EC PRIVATE KEY" => Block::PrivateKey(PrivateKeyDer::Sec1(section.into_contents().into())),
        "ENCRYPTED PRIVATE KEY" => Block::EncryptedPrivateKey(section.into_contents()),
        other => Block::Other(other.to_owned()),
    }
}

/// What a DER file holds, tried strictest first.
fn der_block(file: InputFile, der: Vec<u8>) -> Result<Block, Failure> {
    if x509_cert::Certificate::from_der(&der).is_ok() {
        return Ok(Block::Certificate(der.into()));
    }
    if pkcs8::PrivateKeyInfo::try_from(der.as_slice()).is_ok() {
        return Ok(Block::PrivateKey(PrivateKeyDer::Pkcs8(der.into())));
    }
    if pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).is_ok() {
        return Ok(Block::EncryptedPrivateKey(der));
    }
    if is_pkcs12(&der) {
        return Ok(Block::Pkcs12);
    }
    // PKCS#1 (RSA) and SEC1 (EC) keys: rustls tells them apart by their version number. A PKCS#8
    // guess here would be wrong, since the strict PKCS#8 parse above failed.
    match PrivateKeyDer::try_from(der) {
        Ok(key @ (PrivateKeyDer::Pkcs1(_) | PrivateKeyDer::Sec1(_))) => Ok(Block::PrivateKey(key)),
        _ => Err(file.error(
            "binary (DER) data that is neither a certificate nor a private key; \
             expected an X.509 certificate or a PKCS#8, PKCS#1 or SEC1 key, PEM or DER",
        )),
    }
}

/// PKCS#12 starts `SEQUENCE { INTEGER 3, SEQUENCE ...`: version 3 of the PFX format.
fn is_pkcs12(der: &[u8]) -> bool {
    let header_len = match der.get(1) {
        Some(&len) if len < 0x80 => 2,
        Some(&len) => 2 + usize::from(len & 0x7f),
        None => return false,
    };
    der.get(header_len..)
        .is_some_and(|body| body.starts_with(&[0x02, 0x01, 0x03, 0x30]))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    count(haystack, needle) > 0
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|window| *window == needle)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_pkcs12_by_its_version() {
        // SEQUENCE (long form length), INTEGER 3, SEQUENCE ...: how every .p12 file starts.
        assert!(is_pkcs12(&[
            0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03, 0x30, 0x80
        ]));
        // A PKCS#8 key has version 0.
        assert!(!is_pkcs12(&[
            0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13
        ]));
        assert!(!is_pkcs12(&[0x30]));
    }

    #[test]
    fn quotes_paths_for_suggested_commands() {
        let quote = |p: &str| {
            InputFile {
                flag: "--key",
                path: Path::new(p),
            }
            .shell_path()
        };
        assert_eq!(quote("certs/private.pem.key"), "certs/private.pem.key");
        assert_eq!(quote("My Keys/it's.key"), r"'My Keys/it'\''s.key'");
    }
}
