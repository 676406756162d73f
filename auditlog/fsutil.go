package auditlog

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// file is the part of *os.File the log writes through. Tests substitute an
// implementation that fails on demand to exercise the failure policy.
type file interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	// Datasync flushes the file's data (fdatasync(2)).
	Datasync() error
	Truncate(size int64) error
	// Allocate reserves blocks for [0, size) so a full disk surfaces here
	// rather than in a later write.
	Allocate(size int64) error
	Size() (int64, error)
	Close() error
	Name() string
}

// openFileFunc opens a file for the writer.
type openFileFunc func(name string, flag int, perm os.FileMode) (file, error)

type osFile struct{ *os.File }

func openOSFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (f osFile) Datasync() error {
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.File.Name(), Err: err}
	}
	return nil
}

func (f osFile) Allocate(size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		return f.File.Truncate(size) // file systems without fallocate: best effort
	}
	if err != nil {
		return &os.PathError{Op: "fallocate", Path: f.File.Name(), Err: err}
	}
	return nil
}

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// syncDir fsyncs a directory so that entries created or renamed in it
// survive power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync directory: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to name through a temporary file: write,
// fsync, rename, fsync the directory.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return fmt.Errorf("cannot create temporary file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("cannot write %q: %w", name, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("cannot write %q: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %q: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write %q: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("cannot rename %q: %w", name, err)
	}
	ok = true
	return syncDir(dir)
}
