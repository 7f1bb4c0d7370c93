//! The device's private key (`--key`): plain, or encrypted with a passphrase.
//!
//! A private key comes in three plain forms, PEM or DER, and rustls takes all three:
//!
//! | PEM label               | form                        | who writes it                     |
//! |-------------------------|-----------------------------|-----------------------------------|
//! | `PRIVATE KEY`           | PKCS#8, any algorithm       | openssl 3, rcgen, most tools      |
//! | `RSA PRIVATE KEY`       | PKCS#1, RSA only            | the AWS IoT console download      |
//! | `EC PRIVATE KEY`        | SEC1, elliptic curve only   | `openssl ecparam -genkey`         |
//!
//! A key can also be stored *encrypted*, so a copied file is useless without its passphrase:
//!
//! * `ENCRYPTED PRIVATE KEY` is PKCS#8 with PBES2 (PKCS#5 v2): a key derived from the passphrase
//!   (PBKDF2 or scrypt) and AES-CBC. We decrypt it. The passphrase comes from the environment
//!   variable [`PASSPHRASE_ENV`], or is asked for when stdin is a terminal. It is never a flag:
//!   command lines end up in shell history and are visible to every user in `ps`.
//! * `Proc-Type: 4,ENCRYPTED` inside an `RSA/EC PRIVATE KEY` block is OpenSSL's older scheme,
//!   with a weak key derivation (one MD5 round). We do not decrypt it; we print the `openssl`
//!   command that turns it into encrypted PKCS#8.
//!
//! The key's bytes and the passphrase never appear in a message. Our copy of the passphrase is
//! wiped from memory once used (`Zeroizing`), and so is the buffer pkcs8 decrypts into (its
//! `SecretDocument`); the variable itself stays in the process environment. The key is not wiped:
//! the file's bytes, the PEM contents and the `PrivateKeyDer` are ordinary buffers, and rustls
//! keeps the key in memory as long as the TLS config lives, for the whole run, as any TLS client
//! must to sign each handshake.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::Path;

use pkcs8::der::Decode;
use pkcs8::pkcs5;
use rustls::pki_types::PrivateKeyDer;
use zeroize::Zeroizing;

use super::pem_or_der::{self, Block, InputFile};
use crate::failure::Failure;

/// The environment variable that holds the passphrase of an encrypted `--key`.
pub const PASSPHRASE_ENV: &str = "MQTT5_KEY_PASSPHRASE";

/// Reads `--key`: PKCS#8, PKCS#1 or SEC1, PEM or DER, decrypting an encrypted PKCS#8 key.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Failure> {
    let file = InputFile {
        flag: "--key",
        path,
    };
    let blocks = pem_or_der::read_blocks(file)?;
    let has_certificate = blocks.iter().any(|b| matches!(b, Block::Certificate(_)));
    let has_pkcs12 = blocks.iter().any(|b| matches!(b, Block::Pkcs12));
    // The first key in the file is the one; a file may also hold the certificate (some tools
    // write both into one PEM file), which we skip over.
    for block in blocks {
        match block {
            Block::PrivateKey(key) => return Ok(key),
            Block::EncryptedPrivateKey(der) => return decrypt(file, &der),
            Block::LegacyEncryptedKey => return Err(legacy_encryption(file)),
            _ => {}
        }
    }
    Err(file.error(if has_certificate {
        "no private key in the file, only a certificate; did you swap --cert and --key?".into()
    } else if has_pkcs12 {
        format!(
            "a PKCS#12 bundle (.p12/.pfx); take the key out of it with \
             `openssl pkcs12 -in {0} -nocerts -out private.pem.key` and pass that file",
            file.shell_path()
        )
    } else {
        "no private key in the file; expected '-----BEGIN PRIVATE KEY-----', \
         '-----BEGIN RSA PRIVATE KEY-----' or '-----BEGIN EC PRIVATE KEY-----'"
            .to_owned()
    }))
}

/// Where the passphrase came from, so a "wrong passphrase" message can say what to change.
enum Source {
    Environment,
    Terminal,
}

fn decrypt(file: InputFile, der: &[u8]) -> Result<PrivateKeyDer<'static>, Failure> {
    let encrypted = match pkcs8::EncryptedPrivateKeyInfo::try_from(der) {
        Ok(encrypted) => encrypted,
        // Well-formed DER whose algorithm pkcs8 does not know (PBES1, PBKDF2 with SHA-1, ...).
        Err(_) if pkcs8::der::Document::from_der(der).is_ok() => {
            return Err(unsupported_scheme(file))
        }
        Err(_) => return Err(file.error("the encrypted private key is damaged (not valid DER)")),
    };
    let (passphrase, source) = passphrase(file)?;
    let wrong = || {
        file.error(match source {
            Source::Environment => format!(
                "wrong passphrase for the encrypted private key (taken from {PASSPHRASE_ENV}); \
                 set {PASSPHRASE_ENV} to the passphrase the key was encrypted with"
            ),
            Source::Terminal => "wrong passphrase for the encrypted private key; \
                                 run again and type the passphrase the key was encrypted with"
                .to_owned(),
        })
    };
    let plain = match encrypted.decrypt(passphrase.as_slice()) {
        Ok(plain) => plain,
        // PBES1 (DES, RC2), PBKDF2 with SHA-1, 3DES: old schemes this build leaves out on purpose.
        Err(pkcs8::Error::EncryptedPrivateKey(
            pkcs5::Error::UnsupportedAlgorithm { .. }
            | pkcs5::Error::NoPbes1CryptSupport
            | pkcs5::Error::AlgorithmParametersInvalid { .. },
        )) => return Err(unsupported_scheme(file)),
        // Anything else means the key derived from the passphrase is wrong: the AES-CBC padding
        // did not check out (pkcs5 0.7 calls that `EncryptFailed`), or the result is not DER.
        Err(_) => return Err(wrong()),
    };
    // A wrong passphrase still passes the padding check about once in 256 tries; the "key" is
    // then random bytes, which no longer parse as PKCS#8.
    if pkcs8::PrivateKeyInfo::try_from(plain.as_bytes()).is_err() {
        return Err(wrong());
    }
    Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()))
}

/// The passphrase from [`PASSPHRASE_ENV`], or typed at a terminal without echo.
fn passphrase(file: InputFile) -> Result<(Zeroizing<Vec<u8>>, Source), Failure> {
    if let Some(value) = std::env::var_os(PASSPHRASE_ENV) {
        // Bytes, not `String`: a passphrase need not be UTF-8, and openssl takes it as bytes.
        return Ok((
            Zeroizing::new(OsString::into_encoded_bytes(value)),
            Source::Environment,
        ));
    }
    // Only prompt when a person can answer: under CI or a pipe, a prompt would hang the run.
    if !std::io::stdin().is_terminal() {
        return Err(file.error(format!(
            "the private key is encrypted and no passphrase was given; \
             set the environment variable {PASSPHRASE_ENV} (or run in a terminal to be asked)"
        )));
    }
    let prompt = format!("Passphrase for --key {}: ", file.path.display());
    let typed = rpassword::prompt_password(prompt).map_err(|e| {
        file.error(format!(
            "could not read the passphrase from the terminal ({e})"
        ))
    })?;
    Ok((Zeroizing::new(typed.into_bytes()), Source::Terminal))
}

fn unsupported_scheme(file: InputFile) -> Failure {
    file.error(format!(
        "the private key is encrypted with an old scheme this tool does not decrypt \
         (PBES1, 3DES or SHA-1); re-encrypt it with \
         `openssl pkcs8 -topk8 -v2 aes-256-cbc -in {0} -out {0}.p8` and pass --key {0}.p8",
        file.shell_path()
    ))
}

fn legacy_encryption(file: InputFile) -> Failure {
    file.error(format!(
        "the private key uses OpenSSL's legacy encryption ('Proc-Type: 4,ENCRYPTED'), which this tool \
         does not decrypt; convert it to encrypted PKCS#8 with \
         `openssl pkcs8 -topk8 -v2 aes-256-cbc -in {0} -out {0}.p8`, then pass --key {0}.p8 \
         and its passphrase in {PASSPHRASE_ENV}",
        file.shell_path()
    ))
}
