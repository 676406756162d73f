package auditlog

import (
	"testing"
)

func TestAppendReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(testOptions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 1000)
	if !l.Healthy() {
		t.Fatal("unhealthy")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(testOptions(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1000, 1000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
