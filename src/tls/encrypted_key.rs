//! Decrypting an encrypted PKCS#8 private key (`BEGIN ENCRYPTED PRIVATE KEY`), with the
//! passphrase from [`PASSPHRASE_ENV`] or typed at a terminal. Built with the `encrypted-keys`
//! feature (on by default); `key.rs` explains the key forms.
//!
//! The passphrase never appears in a message. Our copy of it is wiped from memory once used
//! (`Zeroizing`), and so is the buffer pkcs8 decrypts into (its `SecretDocument`); the environment
//! variable itself stays in the process environment.

use std::ffi::OsString;
use std::io::IsTerminal;

use pkcs8::der::Decode;
use pkcs8::pkcs5;
use rustls::pki_types::PrivateKeyDer;
use zeroize::Zeroizing;

use super::key::PASSPHRASE_ENV;
use super::pem_or_der::InputFile;
use crate::failure::Failure;

/// Where the passphrase came from, so a "wrong passphrase" message can say what to change.
enum Source {
    Environment,
    Terminal,
}

/// Decrypts `der`, an `EncryptedPrivateKeyInfo`, into a plain PKCS#8 key.
pub fn decrypt(file: InputFile, der: &[u8]) -> Result<PrivateKeyDer<'static>, Failure> {
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
