package drivers

import (
	"time"
)

// Config holds the oslo.messaging option groups Switchyard reads, with
// oslo's names and defaults. DefaultConfig gives the defaults; the
// osloconfig package loads an existing nova.conf-style file; URL query
// options override the driver's group when the driver is opened.
//
// Each field's `oslo` tag is the option name; `default` its default (in
// seconds for durations); `min`, `max` and `choices` its bounds; `multi`
// marks options whose repeated keys accumulate (oslo's MultiStrOpt);
// `alias` lists other "group/name" spellings oslo still accepts
// (deprecated names, or where another oslo release keeps the option).
// String options may refer to others as $name or ${name} (oslo.config
// substitution), resolved by Expand.
type Config struct {
	Default       DefaultOptions      `group:"DEFAULT"`
	Notifications NotificationOptions `group:"oslo_messaging_notifications"`
	Rabbit        RabbitOptions       `group:"oslo_messaging_rabbit"`
	Pika          PikaOptions         `group:"oslo_messaging_pika"`
	AMQP          AMQPOptions         `group:"oslo_messaging_amqp"`

	// AllowedRemoteExmods lists the modules whose exceptions a caller
	// rebuilds as themselves rather than as a generic remote error (C10);
	// oslo's get_rpc_transport(allowed_remote_exmods=...). Not an INI option.
	AllowedRemoteExmods []string
}

// DefaultOptions is the [DEFAULT] group.
type DefaultOptions struct {
	TransportURL           string        `oslo:"transport_url" default:"rabbit://"`
	ControlExchange        string        `oslo:"control_exchange" default:"openstack"`
	RPCResponseTimeout     time.Duration `oslo:"rpc_response_timeout" default:"60" int:"true"`
	ExecutorThreadPoolSize int           `oslo:"executor_thread_pool_size" default:"64" alias:"/rpc_thread_pool_size"`
	RPCPingEnabled         bool          `oslo:"rpc_ping_enabled" default:"false"`
}

// NotificationOptions is the [oslo_messaging_notifications] group: where
// notifications go, which may be another backend than RPC (the AMQP 1.0
// guide's hybrid deployments).
type NotificationOptions struct {
	// Driver lists the notification drivers: "messagingv2" (version 2.0,
	// enveloped), "messaging" (1.0, bare), "noop", "log", ...
	Driver []string `oslo:"driver" multi:"true" alias:"DEFAULT/notification_driver"`
	// TransportURL is the notification backend; empty means the RPC one.
	TransportURL string   `oslo:"transport_url" alias:"DEFAULT/notification_transport_url"`
	Topics       []string `oslo:"topics" default:"notifications" alias:"DEFAULT/notification_topics,rpc_notifier2/topics"`
	Retry        int      `oslo:"retry" default:"-1"`
}

// RabbitOptions is the [oslo_messaging_rabbit] group. Defaults are those of
// oslo.messaging 14; options added in later releases carry their defaults
// from there.
type RabbitOptions struct {
	AMQPDurableQueues bool `oslo:"amqp_durable_queues" default:"false"`
	AMQPAutoDelete    bool `oslo:"amqp_auto_delete" default:"false" alias:"DEFAULT/amqp_auto_delete"`
	// Connection pool for sends; oslo 14 reads these from [DEFAULT].
	RPCConnPoolSize int           `oslo:"rpc_conn_pool_size" default:"30" min:"1" alias:"DEFAULT/rpc_conn_pool_size"`
	ConnPoolMinSize int           `oslo:"conn_pool_min_size" default:"2" alias:"DEFAULT/conn_pool_min_size"`
	ConnPoolTTL     time.Duration `oslo:"conn_pool_ttl" default:"1200" int:"true" alias:"DEFAULT/conn_pool_ttl"`

	SSL                            bool   `oslo:"ssl" default:"false" alias:"/rabbit_use_ssl"`
	SSLVersion                     string `oslo:"ssl_version" alias:"/kombu_ssl_version"`
	SSLKeyFile                     string `oslo:"ssl_key_file" alias:"/kombu_ssl_keyfile"`
	SSLCertFile                    string `oslo:"ssl_cert_file" alias:"/kombu_ssl_certfile"`
	SSLCAFile                      string `oslo:"ssl_ca_file" alias:"/kombu_ssl_ca_certs"`
	SSLEnforceHostnameVerification bool   `oslo:"ssl_enforce_hostname_verification" default:"false"`
	SSLEnforceFIPSMode             bool   `oslo:"ssl_enforce_fips_mode" default:"false"`
	HeartbeatInPthread             bool   `oslo:"heartbeat_in_pthread" default:"false"`

	KombuReconnectDelay              time.Duration `oslo:"kombu_reconnect_delay" default:"1.0" min:"0" max:"4.5" alias:"DEFAULT/kombu_reconnect_delay"`
	KombuReconnectSplay              time.Duration `oslo:"kombu_reconnect_splay" default:"0" min:"0"`
	KombuCompression                 string        `oslo:"kombu_compression"`
	KombuMissingConsumerRetryTimeout time.Duration `oslo:"kombu_missing_consumer_retry_timeout" default:"60" int:"true" alias:"/kombu_reconnect_timeout"`
	KombuFailoverStrategy            string        `oslo:"kombu_failover_strategy" default:"round-robin" choices:"round-robin|shuffle"`

	RabbitLoginMethod   string        `oslo:"rabbit_login_method" default:"AMQPLAIN" choices:"PLAIN|AMQPLAIN|EXTERNAL|RABBIT-CR-DEMO" alias:"DEFAULT/rabbit_login_method"`
	RabbitRetryInterval time.Duration `oslo:"rabbit_retry_interval" default:"1" int:"true"`
	RabbitRetryBackoff  time.Duration `oslo:"rabbit_retry_backoff" default:"2" int:"true" alias:"DEFAULT/rabbit_retry_backoff"`
	RabbitIntervalMax   time.Duration `oslo:"rabbit_interval_max" default:"30" int:"true"`

	RabbitHAQueues              bool          `oslo:"rabbit_ha_queues" default:"false" alias:"DEFAULT/rabbit_ha_queues"`
	RabbitQuorumQueue           bool          `oslo:"rabbit_quorum_queue" default:"false"`
	RabbitTransientQuorumQueue  bool          `oslo:"rabbit_transient_quorum_queue" default:"false"`
	RabbitQuorumDeliveryLimit   int           `oslo:"rabbit_quorum_delivery_limit" default:"0"`
	RabbitQuorumMaxMemoryLength int           `oslo:"rabbit_quorum_max_memory_length" default:"0" alias:"/rabbit_quroum_max_memory_length"`
	RabbitQuorumMaxMemoryBytes  int           `oslo:"rabbit_quorum_max_memory_bytes" default:"0" alias:"/rabbit_quroum_max_memory_bytes"`
	RabbitTransientQueuesTTL    time.Duration `oslo:"rabbit_transient_queues_ttl" default:"1800" int:"true" min:"1"`
	RabbitQoSPrefetchCount      int           `oslo:"rabbit_qos_prefetch_count" default:"0"`
	HeartbeatTimeoutThreshold   time.Duration `oslo:"heartbeat_timeout_threshold" default:"60" int:"true"`
	HeartbeatRate               int           `oslo:"heartbeat_rate" default:"2"`
	DirectMandatoryFlag         bool          `oslo:"direct_mandatory_flag" default:"true"`
	EnableCancelOnFailover      bool          `oslo:"enable_cancel_on_failover" default:"false"`
	UseQueueManager             bool          `oslo:"use_queue_manager" default:"false"`
	Hostname                    string        `oslo:"hostname"`    // empty: the machine's host name
	Processname                 string        `oslo:"processname"` // empty: basename of argv[0]
	RabbitStreamFanout          bool          `oslo:"rabbit_stream_fanout" default:"false"`
}

// PikaOptions is the [oslo_messaging_pika] group with the Pika deployment
// guide's defaults (where the last release's code differs, the guide wins:
// pool_max_size 10, heartbeat_interval 1).
type PikaOptions struct {
	ChannelMax                    int               `oslo:"channel_max" min:"0"` // 0: the broker's
	FrameMax                      int               `oslo:"frame_max" min:"0"`   // 0: the broker's
	HeartbeatInterval             time.Duration     `oslo:"heartbeat_interval" default:"1" int:"true" min:"0"`
	SSL                           bool              `oslo:"ssl" default:"false"`
	SSLOptions                    map[string]string `oslo:"ssl_options"`
	SocketTimeout                 time.Duration     `oslo:"socket_timeout" default:"0.25" min:"0"`
	TCPUserTimeout                time.Duration     `oslo:"tcp_user_timeout" default:"0.25" min:"0"`
	HostConnectionReconnectDelay  time.Duration     `oslo:"host_connection_reconnect_delay" default:"0.25" min:"0"`
	ConnectionFactory             string            `oslo:"connection_factory" default:"single" choices:"new|single|read_write"`
	PoolMaxSize                   int               `oslo:"pool_max_size" default:"10" min:"1"`
	PoolMaxOverflow               int               `oslo:"pool_max_overflow" default:"0" min:"0"`
	PoolTimeout                   time.Duration     `oslo:"pool_timeout" default:"30" int:"true" min:"0"`
	PoolRecycle                   time.Duration     `oslo:"pool_recycle" default:"600" int:"true" min:"0"`
	PoolStale                     time.Duration     `oslo:"pool_stale" default:"60" int:"true" min:"0"`
	DefaultSerializerType         string            `oslo:"default_serializer_type" default:"json" choices:"json|msgpack"`
	NotificationPersistence       bool              `oslo:"notification_persistence" default:"false"`
	DefaultNotificationExchange   string            `oslo:"default_notification_exchange" default:"${control_exchange}_notification"`
	NotificationListenerPrefetch  int               `oslo:"notification_listener_prefetch_count" default:"100" min:"1"`
	DefaultNotificationRetry      int               `oslo:"default_notification_retry_attempts" default:"-1" min:"-1"`
	NotificationRetryDelay        time.Duration     `oslo:"notification_retry_delay" default:"0.25" min:"0"`
	RPCQueueExpiration            time.Duration     `oslo:"rpc_queue_expiration" default:"60" int:"true" min:"0"`
	DefaultRPCExchange            string            `oslo:"default_rpc_exchange" default:"${control_exchange}_rpc"`
	RPCReplyExchange              string            `oslo:"rpc_reply_exchange" default:"${control_exchange}_rpc_reply"`
	RPCListenerPrefetchCount      int               `oslo:"rpc_listener_prefetch_count" default:"100" min:"1"`
	RPCReplyListenerPrefetchCount int               `oslo:"rpc_reply_listener_prefetch_count" default:"100" min:"1"`
	RPCReplyRetryAttempts         int               `oslo:"rpc_reply_retry_attempts" default:"-1" min:"-1"`
	RPCReplyRetryDelay            time.Duration     `oslo:"rpc_reply_retry_delay" default:"0.25" min:"0"`
	DefaultRPCRetryAttempts       int               `oslo:"default_rpc_retry_attempts" default:"-1" min:"-1"`
	RPCRetryDelay                 time.Duration     `oslo:"rpc_retry_delay" default:"0.25" min:"0"`
}

// AMQPOptions is the [oslo_messaging_amqp] group of the AMQP 1.0 driver, as
// in its last release (oslo.messaging 14).
type AMQPOptions struct {
	ContainerName  string        `oslo:"container_name" alias:"amqp1/container_name"` // empty: generated
	IdleTimeout    time.Duration `oslo:"idle_timeout" default:"0" int:"true" alias:"amqp1/idle_timeout"`
	Trace          bool          `oslo:"trace" default:"false" alias:"amqp1/trace"`
	SSL            bool          `oslo:"ssl" default:"false"`
	SSLCAFile      string        `oslo:"ssl_ca_file" alias:"amqp1/ssl_ca_file"`
	SSLCertFile    string        `oslo:"ssl_cert_file" alias:"amqp1/ssl_cert_file"`
	SSLKeyFile     string        `oslo:"ssl_key_file" alias:"amqp1/ssl_key_file"`
	SSLKeyPassword string        `oslo:"ssl_key_password" alias:"amqp1/ssl_key_password"`
	SSLVerifyVhost bool          `oslo:"ssl_verify_vhost" default:"false"`

	SASLMechanisms   string `oslo:"sasl_mechanisms" alias:"amqp1/sasl_mechanisms"`
	SASLConfigDir    string `oslo:"sasl_config_dir" alias:"amqp1/sasl_config_dir"`
	SASLConfigName   string `oslo:"sasl_config_name" alias:"amqp1/sasl_config_name"`
	SASLDefaultRealm string `oslo:"sasl_default_realm"`

	ConnectionRetryInterval    time.Duration `oslo:"connection_retry_interval" default:"1" int:"true" min:"1"`
	ConnectionRetryBackoff     time.Duration `oslo:"connection_retry_backoff" default:"2" int:"true" min:"0"`
	ConnectionRetryIntervalMax time.Duration `oslo:"connection_retry_interval_max" default:"30" int:"true" min:"1"`
	LinkRetryDelay             time.Duration `oslo:"link_retry_delay" default:"10" int:"true" min:"1"`
	DefaultReplyRetry          int           `oslo:"default_reply_retry" default:"0" min:"-1"`
	DefaultReplyTimeout        time.Duration `oslo:"default_reply_timeout" default:"30" int:"true" min:"5"`
	DefaultSendTimeout         time.Duration `oslo:"default_send_timeout" default:"30" int:"true" min:"5"`
	DefaultNotifyTimeout       time.Duration `oslo:"default_notify_timeout" default:"30" int:"true" min:"5"`
	DefaultSenderLinkTimeout   time.Duration `oslo:"default_sender_link_timeout" default:"600" int:"true" min:"1"`

	AddressingMode              string `oslo:"addressing_mode" default:"dynamic" choices:"dynamic|legacy|routable"`
	PseudoVhost                 bool   `oslo:"pseudo_vhost" default:"true"`
	ServerRequestPrefix         string `oslo:"server_request_prefix" default:"exclusive" alias:"amqp1/server_request_prefix"`
	BroadcastPrefix             string `oslo:"broadcast_prefix" default:"broadcast" alias:"amqp1/broadcast_prefix"`
	GroupRequestPrefix          string `oslo:"group_request_prefix" default:"unicast" alias:"amqp1/group_request_prefix"`
	RPCAddressPrefix            string `oslo:"rpc_address_prefix" default:"openstack.org/om/rpc"`
	NotifyAddressPrefix         string `oslo:"notify_address_prefix" default:"openstack.org/om/notify"`
	MulticastAddress            string `oslo:"multicast_address" default:"multicast"`
	UnicastAddress              string `oslo:"unicast_address" default:"unicast"`
	AnycastAddress              string `oslo:"anycast_address" default:"anycast"`
	DefaultNotificationExchange string `oslo:"default_notification_exchange"`
	DefaultRPCExchange          string `oslo:"default_rpc_exchange"`

	ReplyLinkCredit    int      `oslo:"reply_link_credit" default:"200" min:"1"`
	RPCServerCredit    int      `oslo:"rpc_server_credit" default:"100" min:"1"`
	NotifyServerCredit int      `oslo:"notify_server_credit" default:"100" min:"1"`
	PreSettled         []string `oslo:"pre_settled" multi:"true" default:"rpc-cast,rpc-reply" choices:"rpc-call|rpc-reply|rpc-cast|notify"`
}
