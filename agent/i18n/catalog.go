package i18n

// Catalog maps message keys to their texts. Every entry has both languages
// with the same formatting verbs in the same order (checked by a test).
var Catalog = map[string]Message{
	"usage.main": {
		En: `clawfleet-agent %s: the ClawFleet device agent

Usage:
  clawfleet-agent enroll --cloud URL --token TOKEN [options]   register this host with the cloud
  clawfleet-agent run [options]                                connect to the cloud and report this host
  clawfleet-agent factory-reset [--state-dir DIR]              wipe this box's tenants and make it unclaimed
  clawfleet-agent adopt --admin-token T [CONTAINER OWNER]      list or adopt this host's existing OpenClaw containers
  clawfleet-agent version                                      print the version

Run "clawfleet-agent COMMAND --help" for a command's options.

Environment:
  CLAWFLEET_STATE_DIR     state directory (default /var/lib/clawfleet-agent)
  CLAWFLEET_CLOUD_URL     cloud URL for enroll
  CLAWFLEET_ENROLL_TOKEN  enrollment token for enroll
  CLAWFLEET_ADMIN_TOKEN   the cloud's admin token for adopt
  CLAWFLEET_LOG_LEVEL     log level for run: debug, info, warn, error
  CLAWFLEET_LANG          language of these messages: en or zh
Command-line flags take precedence over the environment.
`,
		Zh: `clawfleet-agent %s：ClawFleet 设备代理

用法：
  clawfleet-agent enroll --cloud URL --token 令牌 [选项]   将本机注册到云端
  clawfleet-agent run [选项]                               连接云端并上报本机状态
  clawfleet-agent factory-reset [--state-dir 目录]         清除本盒子的租户数据并解除认领
  clawfleet-agent adopt --admin-token 令牌 [容器 用户]     列出或接管本机已有的 OpenClaw 容器
  clawfleet-agent version                                  显示版本

运行 "clawfleet-agent 命令 --help" 查看该命令的选项。

环境变量：
  CLAWFLEET_STATE_DIR     状态目录（默认 /var/lib/clawfleet-agent）
  CLAWFLEET_CLOUD_URL     enroll 使用的云端地址
  CLAWFLEET_ENROLL_TOKEN  enroll 使用的注册令牌
  CLAWFLEET_ADMIN_TOKEN   adopt 使用的云端管理员令牌
  CLAWFLEET_LOG_LEVEL     run 的日志级别：debug、info、warn、error
  CLAWFLEET_LANG          提示信息的语言：en 或 zh
命令行参数优先于环境变量。
`,
	},
	"usage.enroll": {
		En: `Usage: clawfleet-agent enroll --cloud URL --token TOKEN [options]

Exchanges an enrollment token for this host's credentials and saves them to
STATE_DIR/credentials.json (mode 0600).

Options:
  --cloud URL        cloud URL, e.g. https://cloud.example.com (env CLAWFLEET_CLOUD_URL)
  --token TOKEN      enrollment token (env CLAWFLEET_ENROLL_TOKEN)
  --state-dir DIR    state directory (env CLAWFLEET_STATE_DIR, default /var/lib/clawfleet-agent)
  --name NAME        name shown in the cloud (default: the hostname)
  --label KEY=VALUE  label for this host; repeat for several
  --force            replace existing credentials
`,
		Zh: `用法：clawfleet-agent enroll --cloud URL --token 令牌 [选项]

用注册令牌换取本机凭据，并保存到 STATE_DIR/credentials.json（权限 0600）。

选项：
  --cloud URL        云端地址，例如 https://cloud.example.com（环境变量 CLAWFLEET_CLOUD_URL）
  --token 令牌       注册令牌（环境变量 CLAWFLEET_ENROLL_TOKEN）
  --state-dir 目录   状态目录（环境变量 CLAWFLEET_STATE_DIR，默认 /var/lib/clawfleet-agent）
  --name 名称        在云端显示的名称（默认：主机名）
  --label 键=值      本机标签，可重复指定多个
  --force            覆盖已有凭据
`,
	},
	"usage.run": {
		En: `Usage: clawfleet-agent run [options]

Connects to the cloud with STATE_DIR/credentials.json and reports this host
until stopped (SIGINT or SIGTERM).

Options:
  --state-dir DIR     state directory (env CLAWFLEET_STATE_DIR, default /var/lib/clawfleet-agent)
  --heartbeat 5s      heartbeat interval until the cloud sends its own (1s to 10m)
  --keepalive 30s     MQTT keepalive; a dead link is noticed within 1.5x this
  --runtime NAME      tenant runtime: docker or process (env CLAWFLEET_RUNTIME;
                      default docker when a Docker engine answers, else process)
  --openclaw-bin PATH executable that runs the OpenClaw CLI, for the process runtime
                      (env CLAWFLEET_OPENCLAW_BIN)
  --docker-image IMG  default gateway image for the docker runtime
                      (env CLAWFLEET_DOCKER_IMAGE; a plan's image wins)
  --tenant-network M  process runtime: auto, netns or loopback (env
                      CLAWFLEET_TENANT_NETWORK, default auto: a network namespace
                      per gateway when root, else loopback, which trusts every
                      local process)
  --tenant-netns-pool CIDR  addresses of the per-gateway networks
                      (env CLAWFLEET_TENANT_NETNS_POOL, default 10.231.0.0/16)
  --allow-weak-isolation  run where the kernel firewall (nftables) cannot be
                      programmed, without the rules that keep tenants out of each
                      other's networks and the tunnel out of the host's services
                      (env CLAWFLEET_ALLOW_WEAK_ISOLATION=1; default: refuse)
  --tenant-disk-quota M  plans' disk limits: auto, loop or off (env
                      CLAWFLEET_TENANT_DISK_QUOTA, default auto: a loop-mounted
                      ext4 image per tenant, sized by its plan, when root)
  --tenant-disk-spares N  disk images kept made ahead, at the last plan's
                      size (env CLAWFLEET_TENANT_DISK_SPARES, default 16; 0: none)
  --wg-mode MODE      WireGuard tunnel: auto, kernel, tun or netstack (env
                      CLAWFLEET_WG_MODE, default auto: kernel when its module is
                      loaded, else tun when root, else netstack, which needs no root)
  --wg-interface NAME interface of the kernel and tun modes (env
                      CLAWFLEET_WG_INTERFACE, default wg-cf + 4 hex digits from
                      the state dir, one per agent)
  --wg-key-max-age D  replace the WireGuard key when it is older than D (env
                      CLAWFLEET_WG_KEY_MAX_AGE, default 2160h = 90 days; 0 = only
                      when the cloud asks)
  --local-page ADDRS  the box's own web page (status, claim code), host:port,
                      comma-separated, or off (env CLAWFLEET_LOCAL_PAGE, default
                      127.0.0.1:8742; e.g. 0.0.0.0:80 to open it to the LAN)
  --pairing MODE      off or wifi: with wifi, a box with no network opens the
                      hotspot OpenClaw-XXXX to be set up from a phone
                      (NetworkManager; env CLAWFLEET_PAIRING, default off)
  --hotspot-password PW  WPA2 password of that hotspot, 8-63 characters
                      (env CLAWFLEET_HOTSPOT_PASSWORD, default none: open)
  --wifi-interface NAME  Wi-Fi device to use (env CLAWFLEET_WIFI_INTERFACE,
                      default the first one)
  --log-level LEVEL   debug, info, warn or error (env CLAWFLEET_LOG_LEVEL, default info)
`,
		Zh: `用法：clawfleet-agent run [选项]

使用 STATE_DIR/credentials.json 连接云端并持续上报本机状态，直到被停止（SIGINT 或 SIGTERM）。

选项：
  --state-dir 目录    状态目录（环境变量 CLAWFLEET_STATE_DIR，默认 /var/lib/clawfleet-agent）
  --heartbeat 5s      云端下发配置前使用的心跳间隔（1s 到 10m）
  --keepalive 30s     MQTT 保活间隔；连接断开会在其 1.5 倍时间内被发现
  --runtime 名称      租户运行时：docker 或 process（环境变量 CLAWFLEET_RUNTIME；
                      默认：Docker 引擎可用时为 docker，否则为 process）
  --openclaw-bin 路径 运行 OpenClaw 命令行的可执行文件，供 process 运行时使用
                      （环境变量 CLAWFLEET_OPENCLAW_BIN）
  --docker-image 镜像 docker 运行时的默认网关镜像
                      （环境变量 CLAWFLEET_DOCKER_IMAGE；套餐指定的镜像优先）
  --tenant-network 模式  process 运行时：auto、netns 或 loopback（环境变量
                      CLAWFLEET_TENANT_NETWORK，默认 auto：以 root 运行时每个网关
                      一个网络命名空间，否则 loopback，即信任本机所有进程）
  --tenant-netns-pool CIDR  各网关网络的地址池
                      （环境变量 CLAWFLEET_TENANT_NETNS_POOL，默认 10.231.0.0/16）
  --allow-weak-isolation  在无法配置内核防火墙（nftables）的机器上仍然运行，但没有
                      隔离租户网络、阻止隧道访问主机服务的规则（环境变量
                      CLAWFLEET_ALLOW_WEAK_ISOLATION=1；默认拒绝运行）
  --tenant-disk-quota 模式  套餐磁盘限额：auto、loop 或 off（环境变量
                      CLAWFLEET_TENANT_DISK_QUOTA，默认 auto：以 root 运行时每个
                      租户一个按套餐大小挂载的 ext4 镜像）
  --tenant-disk-spares 数量  预先做好的磁盘镜像数，大小取最近的套餐
                      （环境变量 CLAWFLEET_TENANT_DISK_SPARES，默认 16；0：不预备）
  --wg-mode 模式      WireGuard 隧道：auto、kernel、tun 或 netstack（环境变量
                      CLAWFLEET_WG_MODE，默认 auto：已加载内核模块时为 kernel，
                      否则以 root 运行时为 tun，否则为无需 root 的 netstack）
  --wg-interface 名称 kernel 与 tun 模式的网络接口名（环境变量
                      CLAWFLEET_WG_INTERFACE，默认 wg-cf 加上由状态目录得出的
                      4 位十六进制数，每个 agent 各不相同）
  --wg-key-max-age 时长  WireGuard 密钥超过该时长即更换（环境变量
                      CLAWFLEET_WG_KEY_MAX_AGE，默认 2160h 即 90 天；0 表示仅在
                      云端要求时更换）
  --local-page 地址   盒子自己的网页（状态、认领码），host:port，可用逗号分隔多个，
                      或 off（环境变量 CLAWFLEET_LOCAL_PAGE，默认 127.0.0.1:8742；
                      例如 0.0.0.0:80 可向局域网开放）
  --pairing 模式      off 或 wifi：wifi 时，没有网络的盒子会开启热点
                      OpenClaw-XXXX，供手机设置（NetworkManager；环境变量
                      CLAWFLEET_PAIRING，默认 off）
  --hotspot-password 密码  该热点的 WPA2 密码，8 到 63 个字符
                      （环境变量 CLAWFLEET_HOTSPOT_PASSWORD，默认无：开放热点）
  --wifi-interface 名称  使用的 Wi-Fi 设备（环境变量 CLAWFLEET_WIFI_INTERFACE，
                      默认第一个）
  --log-level 级别    debug、info、warn 或 error（环境变量 CLAWFLEET_LOG_LEVEL，默认 info）
`,
	},
	"version": {
		En: "clawfleet-agent %s (%s, %s/%s)",
		Zh: "clawfleet-agent %s（%s，%s/%s）",
	},
	"err.prefix": {
		En: "clawfleet-agent: %s",
		Zh: "clawfleet-agent：%s",
	},
	"err.unknownCommand": {
		En: "unknown command %q",
		Zh: "未知命令 %q",
	},
	"err.args": {
		En: "invalid arguments: %v",
		Zh: "参数无效：%v",
	},
	"err.extraArgs": {
		En: "unexpected arguments: %q",
		Zh: "多余的参数：%q",
	},
	"err.missingCloud": {
		En: "the cloud URL is missing: use --cloud or CLAWFLEET_CLOUD_URL",
		Zh: "缺少云端地址：请使用 --cloud 或 CLAWFLEET_CLOUD_URL",
	},
	"err.missingToken": {
		En: "the enrollment token is missing: use --token or CLAWFLEET_ENROLL_TOKEN",
		Zh: "缺少注册令牌：请使用 --token 或 CLAWFLEET_ENROLL_TOKEN",
	},
	"err.label": {
		En: "label %q must look like key=value",
		Zh: "标签 %q 的格式应为 键=值",
	},
	"err.exists": {
		En: "credentials already exist at %s; use --force to replace them",
		Zh: "凭据已存在于 %s；如需覆盖请使用 --force",
	},
	"err.enrollRefused": {
		En: "the cloud refused the enrollment: %s",
		Zh: "云端拒绝了注册：%s",
	},
	"err.enrollFailed": {
		En: "enrollment failed: %v",
		Zh: "注册失败：%v",
	},
	"err.loadCreds": {
		En: "cannot use the credentials: %v\nEnroll this host first: clawfleet-agent enroll --cloud URL --token TOKEN --state-dir %s",
		Zh: "无法使用凭据：%v\n请先注册本机：clawfleet-agent enroll --cloud URL --token 令牌 --state-dir %s",
	},
	"err.keyMaxAge": {
		En: "CLAWFLEET_WG_KEY_MAX_AGE %q is not a duration: use e.g. 2160h, or 0 to rotate only when the cloud asks",
		Zh: "CLAWFLEET_WG_KEY_MAX_AGE %q 不是有效的时长：例如 2160h；设为 0 则仅在云端要求时轮换",
	},
	"err.diskSpares": {
		En: "tenant disk spares %q: use a whole number from 0 to 256 (--tenant-disk-spares, CLAWFLEET_TENANT_DISK_SPARES)",
		Zh: "预备租户磁盘数 %q 无效：应为 0 到 256 的整数（--tenant-disk-spares、CLAWFLEET_TENANT_DISK_SPARES）",
	},
	"err.pairing": {
		En: "pairing settings: %v",
		Zh: "配对设置有误：%v",
	},
	"err.heartbeat": {
		En: "--heartbeat %v is out of range: use 1s to 10m",
		Zh: "--heartbeat %v 超出范围：应在 1s 到 10m 之间",
	},
	"err.logLevel": {
		En: "log level %q is unknown: use debug, info, warn or error",
		Zh: "未知的日志级别 %q：请使用 debug、info、warn 或 error",
	},
	"err.runtime": {
		En: "cannot start the tenant runtime: %v",
		Zh: "无法启动租户运行时：%v",
	},
	"err.agent": {
		En: "the agent stopped: %v",
		Zh: "代理已停止：%v",
	},
	"ok.enrolled": {
		En: "Enrolled as %s. Credentials saved to %s.\nStart the agent with: clawfleet-agent run --state-dir %s",
		Zh: "注册成功，设备 ID：%s。凭据已保存到 %s。\n启动代理：clawfleet-agent run --state-dir %s",
	},
	"usage.factoryReset": {
		En: `Usage: clawfleet-agent factory-reset [--state-dir DIR]

Asks the running agent for a factory reset: it removes every tenant with its
data, and the cloud forgets the box's owner, so the label's claim code
claims it again. A reset button runs this command.

Options:
  --state-dir DIR    state directory (env CLAWFLEET_STATE_DIR, default /var/lib/clawfleet-agent)
`,
		Zh: `用法：clawfleet-agent factory-reset [--state-dir 目录]

请求正在运行的代理恢复出厂设置：删除所有租户及其数据，云端解除此盒子的
认领，之后可用标签上的认领码重新认领。复位按钮运行的就是此命令。

选项：
  --state-dir 目录   状态目录（环境变量 CLAWFLEET_STATE_DIR，默认 /var/lib/clawfleet-agent）
`,
	},
	"ok.resetRequested": {
		En: "Factory reset requested (%s): the agent does it within seconds.",
		Zh: "已请求恢复出厂设置（%s）：代理将在几秒内完成。",
	},
	"err.resetRequest": {
		En: "cannot request the factory reset: %v",
		Zh: "无法请求恢复出厂设置：%v",
	},
	"usage.adopt": {
		En: `Usage: clawfleet-agent adopt --admin-token TOKEN [options] [CONTAINER OWNER]

Migrates this host's existing OpenClaw containers (made before clawfleet,
e.g. by Portainer) into tenants of the cloud's users, in place: nothing is
re-created, each gateway keeps its token, its state and its port. The agent
must be running here: the cloud asks it to inspect the containers.

  clawfleet-agent adopt --admin-token T                  list the OpenClaw containers here, and whether each can be adopted
  clawfleet-agent adopt --admin-token T CONTAINER OWNER  adopt one as the tenant of user OWNER
  clawfleet-agent adopt --admin-token T --map FILE       adopt every line of FILE: CONTAINER OWNER [SLUG [PLAN]]
                                                         ("-" for the default slug; # comments). Lines adopted
                                                         already are skipped, so a rerun resumes.

Options:
  --admin-token TOKEN  the cloud's admin token (env CLAWFLEET_ADMIN_TOKEN: better, a flag
                       shows in the process list)
  --cloud URL          cloud URL (env CLAWFLEET_CLOUD_URL; default: the one in the credentials)
  --state-dir DIR      state directory (env CLAWFLEET_STATE_DIR, default /var/lib/clawfleet-agent)
  --slug SLUG          the tenant's subdomain (default: made from the container's name)
  --plan PLAN          its plan, whose limits are applied to the container (default: free)
`,
		Zh: `用法：clawfleet-agent adopt --admin-token 令牌 [选项] [容器 用户]

把本机已有的 OpenClaw 容器（clawfleet 之前创建的，例如由 Portainer 创建）
原地接管为云端用户的租户：不会重新创建，每个网关保留其令牌、状态和端口。
本机的代理必须在运行：云端会请它检查这些容器。

  clawfleet-agent adopt --admin-token 令牌                  列出本机的 OpenClaw 容器及能否接管
  clawfleet-agent adopt --admin-token 令牌 容器 用户        把一个容器接管为用户的租户
  clawfleet-agent adopt --admin-token 令牌 --map 文件       接管文件中的每一行：容器 用户 [子域名 [套餐]]
                                                            （"-" 表示默认子域名；# 开头为注释）。已接管的
                                                            行会跳过，因此可以重新运行以继续。

选项：
  --admin-token 令牌   云端管理员令牌（环境变量 CLAWFLEET_ADMIN_TOKEN：更好，命令行参数
                       会出现在进程列表中）
  --cloud URL          云端地址（环境变量 CLAWFLEET_CLOUD_URL；默认：凭据中的地址）
  --state-dir 目录     状态目录（环境变量 CLAWFLEET_STATE_DIR，默认 /var/lib/clawfleet-agent）
  --slug 子域名        租户的子域名（默认：由容器名生成）
  --plan 套餐          套餐，其资源限制会应用到容器上（默认：free）
`,
	},
	"err.adoptArgs": {
		En: "give both CONTAINER and OWNER, or neither (to list)",
		Zh: "请同时给出容器和用户，或都不给（列出容器）",
	},
	"err.adoptMapAndArgs": {
		En: "give either CONTAINER OWNER or --map, not both",
		Zh: "请给出“容器 用户”或 --map，不能同时使用",
	},
	"err.adoptSlugWithoutOne": {
		En: "--slug and --plan go with CONTAINER OWNER (a map gives them per line)",
		Zh: "--slug 和 --plan 须与“容器 用户”一起使用（映射文件每行自带）",
	},
	"err.missingAdminToken": {
		En: "the admin token is missing: use --admin-token or CLAWFLEET_ADMIN_TOKEN",
		Zh: "缺少管理员令牌：请使用 --admin-token 或 CLAWFLEET_ADMIN_TOKEN",
	},
	"err.adoptNoCreds": {
		En: "this host is not enrolled, or its credentials cannot be read (run as root?): %v",
		Zh: "本机尚未注册，或无法读取其凭据（是否以 root 运行？）：%v",
	},
	"err.adoptList": {
		En: "cannot list the containers of host %s: %v",
		Zh: "无法列出主机 %s 的容器：%v",
	},
	"err.adopt": {
		En: "%s not adopted: %v",
		Zh: "%s 未接管：%v",
	},
	"err.adoptMap": {
		En: "migration map %s: %v",
		Zh: "映射文件 %s：%v",
	},
	"ok.adopted": {
		En: "%s adopted: tenant %s of %s, at %s",
		Zh: "%s 已接管：租户 %s，属于用户 %s，地址 %s",
	},
	"adopt.none": {
		En: "No OpenClaw container on host %s's Docker engine to adopt.",
		Zh: "主机 %s 的 Docker 引擎上没有可接管的 OpenClaw 容器。",
	},
	"adopt.header": {
		En: "NAME\tIMAGE\tPORT\tSTATE\tADOPTABLE",
		Zh: "名称\t镜像\t端口\t状态\t能否接管",
	},
	"adopt.running": {En: "running", Zh: "运行中"},
	"adopt.stopped": {En: "stopped", Zh: "已停止"},
	"adopt.yes":     {En: "yes", Zh: "可以"},
	"adopt.no": {
		En: "no: %s",
		Zh: "不能：%s",
	},
	"adopt.adoptedAs": {
		En: "adopted (tenant %s)",
		Zh: "已接管（租户 %s）",
	},
	"adopt.leftOut": {
		En: "... and %d more, not shown (the host's answer is bounded).",
		Zh: "……另有 %d 个未显示（主机的应答有大小上限）。",
	},
	"adopt.skipped": {
		En: "%s skipped: adopted already (tenant %s)",
		Zh: "%s 已跳过：已接管（租户 %s）",
	},
	"adopt.skippedCloud": {
		En: "%s skipped: the cloud has it adopted already",
		Zh: "%s 已跳过：云端记录它已被接管",
	},
	"adopt.summary": {
		En: "%d adopted, %d adopted already, %d failed.",
		Zh: "接管 %d 个，已接管过 %d 个，失败 %d 个。",
	},
}
