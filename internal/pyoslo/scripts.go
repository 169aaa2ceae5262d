package pyoslo

import _ "embed"

// Python peer scripts the driver interop tests run with Start; each takes
// the transport URL first and works with any oslo.messaging 14 driver.
var (
	// RPCServerScript serves topic and server (echo, fail, sleep), printing
	// READY and then one JSON line per request: rpc_server.py URL TOPIC SERVER.
	//go:embed scripts/rpc_server.py
	RPCServerScript string
	// RPCClientScript calls and casts a server and prints one JSON object
	// with the results: rpc_client.py URL TOPIC SERVER.
	//go:embed scripts/rpc_client.py
	RPCClientScript string
	// NotifyScript sends one notification ("send URL TOPIC DRIVER
	// PAYLOAD") or prints COUNT notifications as JSON lines ("listen URL
	// TOPIC POOL COUNT", POOL "-" for none).
	//go:embed scripts/notify.py
	NotifyScript string
)
