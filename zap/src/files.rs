//! Reading the small configuration files handlers use (certificates, password files).

use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

/// Why [`read_bounded`] failed.
pub(crate) enum ReadFailure {
    /// Opening or reading failed.
    Io(std::io::Error),
    /// The file is larger than allowed (its size, or what was read before giving up).
    TooLarge(u64),
}

/// Reads a UTF-8 file of at most `max` octets into zeroized memory. The size is checked before
/// reading, and the read itself is bounded too, in case the file grows in between.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Zeroizing<String>, ReadFailure> {
    // Only a regular file: opening a FIFO would block until someone writes to it.
    let meta = std::fs::metadata(path).map_err(ReadFailure::Io)?;
    if !meta.is_file() {
        return Err(ReadFailure::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let file = std::fs::File::open(path).map_err(ReadFailure::Io)?;
    let size = file.metadata().map_err(ReadFailure::Io)?.len();
    if size > max {
        return Err(ReadFailure::TooLarge(size));
    }
    let mut text = Zeroizing::new(String::new());
    file.take(max + 1)
        .read_to_string(&mut text)
        .map_err(ReadFailure::Io)?;
    if text.len() as u64 > max {
        return Err(ReadFailure::TooLarge(text.len() as u64));
    }
    Ok(text)
}
