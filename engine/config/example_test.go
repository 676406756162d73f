package config_test

import (
	"fmt"
	"os"

	"github.com/tollgate-proxy/tollgate/engine/config"
)

func ExampleParse() {
	const text = `listeners:
  - name: public
    listen: 127.0.0.1:8080
upstreams:
  - name: demo
    targets: [127.0.0.1:9000]
routes:
  - name: create-order
    path: /api/v1/orders
    upstream: demo
    timeot: 5s
    filters:
      - name: sizelimit
        config: {max_bytes: 64KiB}
  - name: create-order
    path: api/v1/orders
    upstream: demo
`
	_, err := config.Parse("tollgate.yaml", []byte(text), os.LookupEnv)
	fmt.Println(err)
	// Output:
	// tollgate.yaml:11:5: routes[0]: unknown key "timeot" (did you mean "timeout"?)
	// tollgate.yaml:15:11: routes[1].name: duplicate route name "create-order" (first defined at line 8)
	// tollgate.yaml:16:11: routes[1].path: invalid path "api/v1/orders": want a pattern starting with '/'
}

// A filter's constructor fills its defaults, then decodes its config block
// strictly over them.
func ExampleFilterSpec_Decode() {
	const text = `listeners: [{name: public, listen: "127.0.0.1:8080"}]
upstreams: [{name: demo, targets: ["127.0.0.1:9000"]}]
routes:
  - name: create-order
    path: /api/v1/orders
    upstream: demo
    filters:
      - name: ratelimit
        config:
          rate: 100
          burts: 20
`
	cfg, err := config.Parse("tollgate.yaml", []byte(text), os.LookupEnv)
	if err != nil {
		fmt.Println(err)
		return
	}
	settings := struct {
		Rate  int `yaml:"rate"`
		Burst int `yaml:"burst"`
	}{Rate: 10, Burst: 10}
	fmt.Println(cfg.Routes[0].Filters[0].Decode(&settings))
	// Output:
	// tollgate.yaml:11:11: routes[0].filters[0]: unknown key "burts" (did you mean "burst"?)
}
