package explain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
)

// Write prints r as text, or as one JSON object when asJSON is set.
func (r *Result) Write(w io.Writer, asJSON bool) error { return write(w, r, asJSON) }

func (r *Result) text(w io.Writer) {
	const label = "%-10s %s\n"
	fmt.Fprintf(w, label, "request", r.Method+" "+r.Target)
	if r.Path != "" {
		fmt.Fprintf(w, label, "path", r.Path)
	}
	if r.Route == "" {
		fmt.Fprintf(w, label, "route", "none: "+r.Miss)
	} else {
		fmt.Fprintf(w, label, "route", fmt.Sprintf("%s (%s) at %s", r.Route, r.RoutePattern, r.RouteAt))
	}
	if r.Certificate != "" {
		fmt.Fprintf(w, label, "client", "certificate "+r.Certificate)
	}
	if len(r.Params) > 0 {
		var ps []string
		for k, v := range r.Params {
			ps = append(ps, k+"="+v)
		}
		slices.Sort(ps)
		fmt.Fprintf(w, label, "params", strings.Join(ps, " "))
	}
	if len(r.Steps) > 0 {
		fmt.Fprintln(w, "filters")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range r.Steps {
			outcome := s.Outcome
			if s.Reason != "" {
				outcome = fmt.Sprintf("refused %d %s", s.Status, s.Reason)
			}
			at := s.At
			if s.Rule != "" {
				at = s.Rule
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.Filter, outcome, at, s.Note)
		}
		_ = tw.Flush()
	}
	if r.Route != "" {
		fmt.Fprintf(w, label, "principal", r.Principal)
	}
	if r.Reason == "" {
		fmt.Fprintf(w, label, "result", fmt.Sprintf("forwarded to upstream %s (the upstream answers); audit decision %s", r.Upstream, r.Decision))
	} else {
		fmt.Fprintf(w, label, "result", fmt.Sprintf("%d %s; audit decision %s, reason %s", r.Status, http.StatusText(r.Status), r.Decision, r.Reason))
	}
}

// String describes the principal on one line.
func (p Principal) String() string {
	if !p.Verified {
		return "anonymous"
	}
	var b strings.Builder
	b.WriteString(p.Subject)
	if p.StandIn {
		b.WriteString(" (stand-in for --role/--scope)")
	}
	if p.Method != "" {
		b.WriteString(" via " + p.Method)
	}
	if p.Tenant != "" {
		b.WriteString(", tenant " + p.Tenant)
	}
	b.WriteString(", roles [" + strings.Join(p.Roles, " ") + "]")
	if len(p.Scopes) > 0 {
		b.WriteString(", scopes [" + strings.Join(p.Scopes, " ") + "]")
	}
	return b.String()
}

// Write prints the listing as text, or as one JSON object.
func (l *Listing) Write(w io.Writer, asJSON bool) error { return write(w, l, asJSON) }

func (l *Listing) text(w io.Writer) {
	who := "roles " + strings.Join(l.Roles, ", ")
	if len(l.Scopes) > 0 {
		who += " with scopes " + strings.Join(l.Scopes, " ")
	}
	fmt.Fprintf(w, "what %s may do, route by route:\n", who)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range l.Routes {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Route, r.Pattern, r.At)
		switch r.Access {
		case "public":
			fmt.Fprintf(tw, "  anything\t(no authentication filter: anyone may)\t\n")
		case "authenticated":
			fmt.Fprintf(tw, "  anything\t(no rbac filter: any authenticated principal may)\t\n")
		case "none":
			fmt.Fprintf(tw, "  nothing\t\t\n")
		}
		for _, g := range r.Grants {
			note := ""
			if g.Note != "" {
				note = " (" + g.Note + ")"
			}
			fmt.Fprintf(tw, "  %s %s%s\t\t%s\n", strings.Join(g.Methods, ","), g.Pattern, note, g.At)
		}
	}
	_ = tw.Flush()
}

// report is what the explain commands print: a Result or a Listing.
type report interface{ text(io.Writer) }

// write prints v as one JSON object when asJSON is set, or else as its
// text with trailing spaces trimmed.
func write(w io.Writer, v report, asJSON bool) error {
	if asJSON {
		return writeJSON(w, v)
	}
	var b bytes.Buffer
	v.text(&b)
	return trimmed(w, &b)
}

// trimmed copies text to w without the spaces tabwriter leaves at line
// ends.
func trimmed(w io.Writer, b *bytes.Buffer) error {
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		nl := strings.HasSuffix(line, "\n")
		out.WriteString(strings.TrimRight(line, " \n"))
		if nl {
			out.WriteByte('\n')
		}
	}
	_, err := w.Write(out.Bytes())
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
