//! Output files of the CLI (`reports export --output`, `security-txt
//! --output`, `backup DEST`): written to a new temp file next to the
//! destination (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600), fsynced, then
//! moved into place.
//!
//! I/O: the destination's directory only. Must not: write through a
//! symbolic link (a dangling one included), truncate a file in place, or
//! leave a file readable by others (backups hold raw mail).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::{exit, ExitError};

/// What may stand at the destination already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Existing {
    /// A regular file there is replaced (atomically, by rename).
    Replace,
    /// Anything there is refused (the final step is a no-clobber link).
    Refuse,
}

/// Write `bytes` to `dest` as a new 0600 file.
///
/// # Errors
/// A symlinked (or, with [`Existing::Refuse`], any existing) destination,
/// or an I/O error naming the path.
pub(super) fn write_private(dest: &Path, bytes: &[u8], existing: Existing) -> Result<()> {
    with_private(dest, existing, |file, temp| {
        file.write_all(bytes)
            .with_context(|| format!("cannot write {}", temp.display()))
    })
}

/// Create an empty 0600 temp file next to `dest`, let `fill` write it
/// (through the open file, or by its path, e.g. SQLite's online backup),
/// fsync it and move it to `dest`. The temp file is removed when anything
/// fails.
///
/// # Errors
/// As [`write_private`], or `fill`'s error.
pub(super) fn with_private(
    dest: &Path,
    existing: Existing,
    fill: impl FnOnce(&mut File, &Path) -> Result<()>,
) -> Result<()> {
    check_destination(dest, existing)?;
    let (mut file, temp) = create_temp(dest)?;
    let result = fill(&mut file, &temp)
        // NOTE: fsync is per inode: it also flushes what was written by path.
        .and_then(|()| {
            file.sync_all()
                .with_context(|| format!("cannot sync {}", temp.display()))
        })
        .and_then(|()| place(&temp, dest, existing));
    // NOTE: after a successful link or rename the temp name is gone or a second name.
    let _ = std::fs::remove_file(&temp);
    result
}

/// Refuse a symlink (dangling or not) or a non-file at `dest`, and with
/// [`Existing::Refuse`] anything at all.
fn check_destination(dest: &Path, existing: Existing) -> Result<()> {
    let refuse = |why: &str| -> Result<()> {
        Err(ExitError {
            code: exit::USAGE,
            message: format!("{}: {why}; refusing to write it", dest.display()),
        }
        .into())
    };
    match std::fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot inspect {}", dest.display())),
        Ok(m) if m.file_type().is_symlink() => refuse("is a symbolic link"),
        Ok(_) if existing == Existing::Refuse => refuse("exists"),
        Ok(m) if !m.is_file() => refuse("is not a regular file"),
        Ok(_) => Ok(()),
    }
}

/// The directory `dest` will be in (`.` for a bare file name).
fn parent_of(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new, empty, 0600 file beside `dest` that did not exist before.
fn create_temp(dest: &Path) -> Result<(File, PathBuf)> {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    for _ in 0..16 {
        let temp = parent_of(dest).join(format!(
            ".{name}.tmp-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp);
        match created {
            Ok(file) => return Ok((file, temp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", temp.display())),
        }
    }
    anyhow::bail!("cannot create a temp file beside {}", dest.display())
}

/// Move `temp` to `dest`: rename (replaces the directory entry, never
/// follows a symlink put there meanwhile), or with [`Existing::Refuse`] a
/// hard link, which fails if anything appeared at `dest`. Then fsync the
/// directory.
fn place(temp: &Path, dest: &Path, existing: Existing) -> Result<()> {
    check_destination(dest, existing)?;
    let moved = match existing {
        Existing::Replace => std::fs::rename(temp, dest),
        Existing::Refuse => std::fs::hard_link(temp, dest),
    };
    moved.with_context(|| format!("cannot write {}", dest.display()))?;
    // NOTE: a directory fsync may be unsupported (some filesystems); the data is synced.
    let _ = File::open(parent_of(dest)).and_then(|d| d.sync_all());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt as _};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_a_0600_file_and_replaces_a_regular_one() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        write_private(&dest, b"one", Existing::Replace).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"one");
        assert_eq!(mode(&dest), 0o600);
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&dest, b"two", Existing::Replace).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two");
        assert_eq!(mode(&dest), 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temp files left behind: {left:?}");
    }

    #[test]
    fn symlinks_are_refused_dangling_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let live = dir.path().join("live");
        symlink(&victim, &live).unwrap();
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("nowhere"), &dangling).unwrap();
        for link in [&live, &dangling] {
            for existing in [Existing::Replace, Existing::Refuse] {
                let err = write_private(link, b"evil", existing).unwrap_err();
                assert!(err.to_string().contains("symbolic link"), "{err}");
            }
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn refuse_mode_keeps_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("backup.db");
        std::fs::write(&dest, b"old").unwrap();
        let err = write_private(&dest, b"new", Existing::Refuse).unwrap_err();
        assert!(err.to_string().contains("exists"), "{err}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
    }

    #[test]
    fn a_failing_fill_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x");
        let err = with_private(&dest, Existing::Refuse, |_, _| anyhow::bail!("boom")).unwrap_err();
        assert!(err.to_string().contains("boom"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
