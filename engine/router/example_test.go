package router_test

import (
	"fmt"

	"github.com/tollgate-proxy/tollgate/engine/router"
	"github.com/tollgate-proxy/tollgate/filters"
)

func Example() {
	r, err := router.New([]router.Route{
		{ID: 0, Methods: []string{"GET"}, Pattern: "/api/v1/customers/{id}"},
		{ID: 1, Methods: []string{"DELETE"}, Pattern: "/api/v1/customers/{id}"},
		{ID: 2, Methods: []string{"GET"}, Pattern: "/static/*"},
	})
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 0, router.MaxPathLen) // reused per request
	var ps filters.Params
	for _, q := range []struct{ method, target string }{
		{"GET", "/api//v1/./customers/%34%32"},
		{"HEAD", "/static/css/../site.css"},
		{"POST", "/api/v1/customers/42"},
		{"GET", "/api/v1/customers/%2e%2e/admin"},
	} {
		path, err := router.Normalize(buf[:0], []byte(q.target))
		if err != nil {
			fmt.Println(q.method, q.target, "-> 400:", err)
			continue
		}
		id, res := r.Lookup([]byte("api.example.com"), []byte(q.method), path, &ps)
		switch res {
		case router.Found:
			fmt.Printf("%s %s -> %s route %d id=%s\n", q.method, path, res, id, ps.Get("id"))
		case router.MethodNotAllowed:
			fmt.Printf("%s %s -> 405, Allow: %s\n", q.method, path, r.Allow(nil, path))
		default:
			fmt.Printf("%s %s -> 404\n", q.method, path)
		}
	}
	// Output:
	// GET /api/v1/customers/42 -> found route 0 id=42
	// HEAD /static/site.css -> found route 2 id=
	// POST /api/v1/customers/42 -> 405, Allow: GET, HEAD, DELETE
	// GET /api/v1/customers/%2e%2e/admin -> 400: router: percent-encoded dot segment
}
