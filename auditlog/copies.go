package auditlog

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Copies of the log kept elsewhere (auditlog/pgship's PostgreSQL tables)
// record in the log directory how far they got: the file copies/NAME
// holds the first index the copy named NAME lacks, in decimal. Prune, the
// offline retention, then deletes nothing a copy lacks, as HoldRetention
// keeps the writer's retention from doing while the proxy runs: a copy
// that was down for longer than the retention window loses nothing when
// an operator prunes by hand. A mark is replaced atomically (a temporary
// file renamed over it) but not synced: after a crash it can only be
// older than the copy, which holds more back, never less; one that cannot
// be read holds everything.
const copiesDir = "copies"

// MarkCopied records that the copy named name holds every record below
// next.
func MarkCopied(dir, name string, next uint64) error {
	if err := checkCopyName(name); err != nil {
		return err
	}
	d := filepath.Join(dir, copiesDir)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("cannot record the copy's position: %w", err)
	}
	f, err := os.CreateTemp(d, ".tmp-"+name+"-*")
	if err != nil {
		return fmt.Errorf("cannot record the copy's position: %w", err)
	}
	_, err = f.WriteString(strconv.FormatUint(next, 10) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(d, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cannot record the copy's position: %w", err)
	}
	return nil
}

// ForgetCopy removes the copy's mark: the log is no longer copied there,
// and retention no longer waits for it.
func ForgetCopy(dir, name string) error {
	if err := checkCopyName(name); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, copiesDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot forget the copy %s: %w", name, err)
	}
	return nil
}

// CopyMarks returns each copy's first missing index; a mark that cannot
// be parsed counts as 0 (the copy holds nothing).
func CopyMarks(dir string) (map[string]uint64, error) {
	ents, err := os.ReadDir(filepath.Join(dir, copiesDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the copies' positions: %w", err)
	}
	marks := map[string]uint64{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, copiesDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("cannot read the copies' positions: %w", err)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			n = 0
		}
		marks[e.Name()] = n
	}
	return marks, nil
}

// lowestCopy returns the copy that lacks the earliest record, and the
// index it lacks from; math.MaxUint64 when there is none.
func lowestCopy(marks map[string]uint64) (string, uint64) {
	name, low := "", uint64(math.MaxUint64)
	for n, i := range marks {
		if i < low || i == low && n < name {
			name, low = n, i
		}
	}
	return name, low
}

func checkCopyName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("auditlog: invalid copy name %q", name)
	}
	return nil
}
