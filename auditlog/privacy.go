package auditlog

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// saltSize is the size of a salt period's secret.
const saltSize = 32

// saltKeys are the keys derived from one salt period's secret. They are
// immutable after creation and safe for concurrent use.
type saltKeys struct {
	epoch uint64 // Unix seconds of the period's start
	// commit prefixes: kCommit ‖ field tag, hashed before the value.
	principalPrefix [sha256.Size + 1]byte
	clientIPPrefix  [sha256.Size + 1]byte
	block           cipher.Block // AES-256 for the side data
}

func deriveKeys(epoch uint64, salt []byte) (*saltKeys, error) {
	k := &saltKeys{epoch: epoch}
	kc := sha256.Sum256(append([]byte("tollgate audit commit v1\x00"), salt...))
	ke := sha256.Sum256(append([]byte("tollgate audit encrypt v1\x00"), salt...))
	copy(k.principalPrefix[:], kc[:])
	k.principalPrefix[sha256.Size] = 'p'
	copy(k.clientIPPrefix[:], kc[:])
	k.clientIPPrefix[sha256.Size] = 'i'
	b, err := aes.NewCipher(ke[:])
	if err != nil {
		return nil, fmt.Errorf("cannot create side-data cipher: %w", err)
	}
	k.block = b
	return k, nil
}

// sealer computes commitments and encrypts side data for one goroutine at a
// time. It owns its scratch buffers so the hot path does not allocate; the
// hashes are one-shot sha256.Sum256 calls over contiguous bytes, which
// measured a third cheaper than a reused hash.Hash.
type sealer struct {
	buf [sha256.Size + 1 + MaxPrincipal]byte // commitment input
	ip  [16]byte
	ctr [aes.BlockSize]byte // counter block
	ks  [aes.BlockSize]byte // key stream block
}

func newSealer() *sealer { return new(sealer) }

func (s *sealer) commit(dst *[CommitmentSize]byte, prefix []byte, v []byte) {
	n := copy(s.buf[:], prefix)
	n += copy(s.buf[n:], v)
	sum := sha256.Sum256(s.buf[:n])
	copy(dst[:], sum[:])
}

// ipBytes returns the address in its stored form: 4 bytes for IPv4, 16 otherwise.
func (s *sealer) ipBytes(a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		copy(s.ip[:4], v[:])
		return s.ip[:4]
	}
	s.ip = a.As16()
	return s.ip[:]
}

// commitments fills c for e under k.
func (s *sealer) commitments(c *commitments, e *Entry, k *saltKeys) {
	c.epoch = k.epoch
	if len(e.Principal) > 0 {
		p := e.Principal
		if len(p) > MaxPrincipal {
			p = p[:MaxPrincipal]
		}
		s.commit(&c.principal, k.principalPrefix[:], p)
	}
	if e.ClientIP.IsValid() {
		s.commit(&c.clientIP, k.clientIPPrefix[:], s.ipBytes(e.ClientIP))
	}
}

// appendSide appends the encrypted side data of e: the personal values the
// leaf commits to. Each value is encrypted with AES-256-CTR whose counter
// block starts with the value's own commitment (a keyed hash of the value,
// as in SIV): equal values give equal ciphertexts, which reveals only the
// equality the commitments already show, and lets repeated principals
// compress. c must hold e's commitments.
func (s *sealer) appendSide(dst []byte, e *Entry, k *saltKeys, c *commitments) []byte {
	p := e.Principal
	if len(p) > MaxPrincipal {
		p = p[:MaxPrincipal]
	}
	dst = binary.AppendUvarint(dst, uint64(len(p)))
	at := len(dst)
	dst = append(dst, p...)
	s.xorKeyStream(dst[at:], k, &c.principal)
	if e.ClientIP.IsValid() {
		ip := s.ipBytes(e.ClientIP)
		dst = append(dst, byte(len(ip)))
		at = len(dst)
		dst = append(dst, ip...)
		s.xorKeyStream(dst[at:], k, &c.clientIP)
	} else {
		dst = append(dst, 0)
	}
	return dst
}

// xorKeyStream applies AES-256-CTR with counter block nonce[:12] ‖ be32(i).
func (s *sealer) xorKeyStream(b []byte, k *saltKeys, nonce *[CommitmentSize]byte) {
	copy(s.ctr[:12], nonce[:12])
	for i := 0; len(b) > 0; i++ {
		binary.BigEndian.PutUint32(s.ctr[12:], uint32(i))
		k.block.Encrypt(s.ks[:], s.ctr[:])
		n := min(len(b), aes.BlockSize)
		for j := 0; j < n; j++ {
			b[j] ^= s.ks[j]
		}
		b = b[n:]
	}
}

// reveal decrypts side data and, when the values match the record's
// commitments, fills r.Principal, r.ClientIP and r.Revealed. side is
// decrypted in place.
func (s *sealer) reveal(r *Record, side []byte, k *saltKeys) error {
	d := decoder{b: side}
	p := d.bytes("side principal", MaxPrincipal)
	n := d.byte1("side ip length")
	var ip []byte
	if d.err == nil {
		if (n != 0 && n != 4 && n != 16) || len(d.b) != int(n) {
			d.fail("side ip")
		} else {
			ip = d.b
		}
	}
	if d.err != nil {
		return d.err
	}
	if r.HasPrincipal != (len(p) > 0) || r.HasClientIP != (len(ip) > 0) {
		return fmt.Errorf("%w: side data does not match the record", ErrBadRecord)
	}
	var c [CommitmentSize]byte
	if r.HasPrincipal {
		s.xorKeyStream(p, k, &r.PrincipalCommit)
		s.commit(&c, k.principalPrefix[:], p)
		if c != r.PrincipalCommit {
			return fmt.Errorf("%w: principal does not match its commitment", ErrBadRecord)
		}
	}
	if r.HasClientIP {
		s.xorKeyStream(ip, k, &r.ClientIPCommit)
		s.commit(&c, k.clientIPPrefix[:], ip)
		if c != r.ClientIPCommit {
			return fmt.Errorf("%w: client ip does not match its commitment", ErrBadRecord)
		}
		a, _ := netip.AddrFromSlice(ip)
		r.ClientIP = a
	}
	r.Principal = p
	r.Revealed = true
	return nil
}

// saltStore loads and creates the per-period salt files under dir/salts.
// Deleting a period's salt file erases the personal values of every record
// of that period: the commitments in the leaves stay (so every proof still
// verifies) but can no longer be opened, and the side data can no longer
// be decrypted.
type saltStore struct {
	dir    string
	period int64 // ns
	create bool  // writer: create missing salts

	mu    sync.Mutex
	cache map[uint64]*saltKeys // bounded: see get
}

func newSaltStore(dir string, period int64, create bool) *saltStore {
	return &saltStore{dir: filepath.Join(dir, saltDir), period: period, create: create, cache: make(map[uint64]*saltKeys)}
}

const saltDir = "salts"

// errNoSalt reports an erased (or never created) salt period.
var errNoSalt = errors.New("auditlog: salt erased")

func saltFileName(epoch uint64) string { return strconv.FormatUint(epoch, 10) + ".salt" }

// epochOf returns the salt period (Unix seconds of its start) of time ns.
func (s *saltStore) epochOf(ns int64) uint64 {
	if ns < 0 {
		ns = 0
	}
	return uint64(ns/s.period*s.period) / 1e9
}

// get returns the keys of a period, loading or (for the writer) creating
// its salt file. Slow path: called once per period per goroutine cache miss.
func (s *saltStore) get(epoch uint64) (*saltKeys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.cache[epoch]; ok {
		return k, nil
	}
	name := filepath.Join(s.dir, saltFileName(epoch))
	salt, err := os.ReadFile(name)
	switch {
	case err == nil && len(salt) == saltSize:
	case err == nil:
		return nil, fmt.Errorf("cannot load salt %q: %d bytes, want %d", name, len(salt), saltSize)
	case errors.Is(err, fs.ErrNotExist) && s.create:
		salt = make([]byte, saltSize)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("cannot create salt: %w", err)
		}
		if err := writeFileAtomic(name, salt, 0o600); err != nil {
			return nil, fmt.Errorf("cannot create salt: %w", err)
		}
	case errors.Is(err, fs.ErrNotExist):
		return nil, errNoSalt
	default:
		return nil, fmt.Errorf("cannot load salt: %w", err)
	}
	k, err := deriveKeys(epoch, salt)
	if err != nil {
		return nil, err
	}
	if len(s.cache) >= 64 {
		clear(s.cache)
	}
	s.cache[epoch] = k
	return k, nil
}

// Erase deletes the salt files of every period that ended before
// beforeUnix (seconds) and returns how many were deleted. The personal
// values of those periods become unreadable; proofs are unaffected.
func EraseSalts(dir string, beforeUnix int64, period int64) (int, error) {
	if period <= 0 {
		period = int64(DefaultSaltPeriod)
	}
	ents, err := os.ReadDir(filepath.Join(dir, saltDir))
	if err != nil {
		return 0, fmt.Errorf("cannot list salts: %w", err)
	}
	n := 0
	for _, de := range ents {
		name, ok := strings.CutSuffix(de.Name(), ".salt")
		if !ok {
			continue
		}
		epoch, err := strconv.ParseInt(name, 10, 64)
		if err != nil || epoch+period/1e9 > beforeUnix {
			continue
		}
		if err := os.Remove(filepath.Join(dir, saltDir, de.Name())); err != nil {
			return n, fmt.Errorf("cannot erase salt %q: %w", de.Name(), err)
		}
		n++
	}
	if n > 0 {
		if err := syncDir(filepath.Join(dir, saltDir)); err != nil {
			return n, err
		}
	}
	return n, nil
}
