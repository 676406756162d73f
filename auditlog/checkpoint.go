package auditlog

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	tlogformat "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a verified tree head: C2SP tlog-checkpoint body plus the
// signed note it came from.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   tlog.Hash
	// Note is the signed note text (C2SP signed-note).
	Note []byte
}

const (
	checkpointsLog  = "checkpoints.log"
	checkpointFile  = "checkpoint"
	maxCheckpoint   = 64 << 10
	cpFrameOverhead = 8
)

// ErrBadCheckpoint reports a checkpoint that does not parse or verify.
var ErrBadCheckpoint = errors.New("auditlog: bad checkpoint")

// signCheckpoint signs the C2SP tlog-checkpoint for (n, root).
func signCheckpoint(s note.Signer, origin string, n uint64, root tlog.Hash) ([]byte, error) {
	text := tlogformat.Checkpoint{Origin: origin, Size: n, Hash: root[:]}.Marshal()
	msg, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		return nil, fmt.Errorf("cannot sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint note with v and parses it.
// The checkpoint's origin must be the verifier key's name.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	cp, err := parseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if cp.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q, key is for %q", ErrBadCheckpoint, cp.Origin, v.Name())
	}
	cp.Note = msg
	return cp, nil
}

// parseCheckpointText parses an unsigned C2SP tlog-checkpoint body strictly:
// decimal size without leading zeros, 32-byte standard base64 root.
func parseCheckpointText(text string) (Checkpoint, error) {
	var c tlogformat.Checkpoint
	if _, err := c.Unmarshal([]byte(text)); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	lines := strings.SplitN(text, "\n", 4)
	if lines[1] != strconv.FormatUint(c.Size, 10) || len(c.Hash) != tlog.HashSize ||
		lines[2] != base64.StdEncoding.EncodeToString(c.Hash) {
		return Checkpoint{}, fmt.Errorf("%w: non-canonical size or root", ErrBadCheckpoint)
	}
	cp := Checkpoint{Origin: c.Origin, Size: c.Size}
	copy(cp.Root[:], c.Hash)
	return cp, nil
}

// parseCheckpointUnverified parses the body of a signed note without
// checking signatures.
func parseCheckpointUnverified(msg []byte) (Checkpoint, error) {
	text, _, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		return Checkpoint{}, fmt.Errorf("%w: not a signed note", ErrBadCheckpoint)
	}
	cp, err := parseCheckpointText(text + "\n")
	cp.Note = msg
	return cp, err
}

// appendCheckpointFrame frames a note for checkpoints.log:
// u32 length ‖ u32 crc32c(note) ‖ note.
func appendCheckpointFrame(dst, msg []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(msg)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(msg, castagnoli))
	return append(dst, msg...)
}

// parseCheckpointFrames splits checkpoints.log. It returns the frames and
// the length of the valid prefix; a torn or corrupt frame ends the list.
func parseCheckpointFrames(b []byte) (frames [][]byte, valid int, err error) {
	for len(b)-valid >= cpFrameOverhead {
		n := binary.LittleEndian.Uint32(b[valid:])
		crc := binary.LittleEndian.Uint32(b[valid+4:])
		if n == 0 || n > maxCheckpoint || uint64(len(b)-valid-cpFrameOverhead) < uint64(n) {
			return frames, valid, fmt.Errorf("%w: frame at offset %d", ErrBadCheckpoint, valid)
		}
		msg := b[valid+cpFrameOverhead : valid+cpFrameOverhead+int(n)]
		if crc32.Checksum(msg, castagnoli) != crc {
			return frames, valid, fmt.Errorf("%w: checksum mismatch in frame at offset %d", ErrBadCheckpoint, valid)
		}
		frames = append(frames, msg)
		valid += cpFrameOverhead + int(n)
	}
	if valid != len(b) {
		return frames, valid, fmt.Errorf("%w: torn frame at offset %d", ErrBadCheckpoint, valid)
	}
	return frames, valid, nil
}

// GenerateKey returns a new Ed25519 signing key (skey) and verifier key
// (vkey) in the signed-note text forms, named origin.
func GenerateKey(origin string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(nil, origin)
	if err != nil {
		return "", "", fmt.Errorf("cannot generate key: %w", err)
	}
	return skey, vkey, nil
}

// VerifierKey derives the verifier key (vkey) from a signing key (skey).
func VerifierKey(skey string) (string, error) {
	if _, err := note.NewSigner(skey); err != nil {
		return "", fmt.Errorf("cannot parse signing key: %w", err)
	}
	parts := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return "", errors.New("cannot parse signing key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}
