package pgship

import (
	"context"
	"strings"
	"testing"

	"github.com/tollgate-proxy/tollgate/auditlog"
	"github.com/tollgate-proxy/tollgate/internal/testpg"
)

// TestVerifyTamper ships one log, then changes the copy in one way per
// case (in a copy of the database) and checks Verify names the record.
func TestVerifyTamper(t *testing.T) {
	pg := testpg.New(t)
	base := dbURL(t, pg, "base", "")
	tl := newTestLog(t, "audit.test/t")
	s := startShipper(t, base, tl)
	tl.append(t, 700)
	tl.close(t) // the final checkpoint covers every record
	waitShipped(t, base, tl.origin, 700)
	_ = s.Close()
	verifyOK(t, base, tl.vkey)

	// Checkpoints come every 100 records, so a consistent change to record
	// 321 is narrowed to [300, 400).
	for i, tc := range []struct {
		name, sql string
		want      []string
	}{
		{"leaf byte changed", `UPDATE ` + RecordsTable + ` SET leaf = overlay(leaf placing convert_to('/v1/orders/9', 'UTF8') from position(convert_to('/v1/orders/321', 'UTF8') in leaf) for 12) WHERE idx = 321`,
			[]string{`index 321: column path does not match`}},
		{"leaf and columns changed together", `UPDATE ` + RecordsTable + ` SET leaf = overlay(leaf placing convert_to('/v1/orders/9', 'UTF8') from position(convert_to('/v1/orders/321', 'UTF8') in leaf) for 12),
			path = '/v1/orders/9' || substr(path, 13) WHERE idx = 321`,
			[]string{`index 300: records 300 to 399 do not match the signed checkpoint at size 400`}},
		{"leaf truncated", `UPDATE ` + RecordsTable + ` SET leaf = substr(leaf, 1, 10) WHERE idx = 5`,
			[]string{`index 5: the leaf bytes do not decode`}},
		{"row deleted", `DELETE FROM ` + RecordsTable + ` WHERE idx = 456`,
			[]string{`index 456: record 456 is missing`}},
		{"last rows deleted", `DELETE FROM ` + RecordsTable + ` WHERE idx >= 650`,
			[]string{`index 650: records 650 to 699 are missing: the checkpoint at size 700 covers them`}},
		{"status column changed", `UPDATE ` + RecordsTable + ` SET status = 200 WHERE idx = 9`,
			[]string{`index 9: column status does not match`}},
		{"checkpoint note forged", `UPDATE ` + CheckpointsTable + ` SET note = replace(note, 'audit.test/t', 'audit.test/t ') WHERE size = 500`,
			[]string{`checkpoint at size 500:`}},
		{"checkpoints deleted", `DELETE FROM ` + CheckpointsTable,
			[]string{`no signed checkpoint covers its 700 records`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := dbURL(t, pg, "case"+string(rune('a'+i)), "base")
			mustExec(t, url, tc.sql)
			res, err := Verify(context.Background(), url, []string{tl.vkey})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) == 0 {
				t.Fatal("the change was not detected")
			}
			var all []string
			for _, p := range res.Problems {
				all = append(all, p.String())
			}
			got := strings.Join(all, "\n")
			for _, w := range tc.want {
				if w != "" && !strings.Contains(got, w) {
					t.Errorf("problems:\n%s\nwant one containing %q", got, w)
				}
			}
		})
	}
	t.Run("no key", func(t *testing.T) {
		_, other, _ := auditlog.GenerateKey("audit.test/other")
		res, err := Verify(context.Background(), base, []string{other})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].String(), "no verifier key") {
			t.Fatalf("problems %v", res.Problems)
		}
	})
}
