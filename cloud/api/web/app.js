// ClawFleet admin dashboard: plain JavaScript, no build step, no framework.
//
// Rules kept throughout this file:
//   * every visible string comes from I18N below (English and Simplified Chinese);
//   * text from the API is only ever written with textContent / attributes,
//     never parsed as HTML;
//   * elements a test needs carry an id or a data-testid.
(function () {
  'use strict';

  // ---------------------------------------------------------------- i18n --

  var I18N = {
    'en': {
      'app.title': 'ClawFleet',
      'lang.switch': '中文',
      'lang.switchTitle': 'Switch language to Simplified Chinese',

      'nav.hosts': 'Hosts',
      'nav.tenants': 'Tenants',
      'nav.tokens': 'Enrollment tokens',
      'nav.batches': 'Batches',
      'hosts.kind.box': 'Box: runs only its owner’s instances',
      'hosts.pool': 'Pool {pool}',
      'nav.settings': 'Settings',
      'nav.logout': 'Sign out',

      'login.title': 'Sign in to ClawFleet',
      'login.hint': 'Enter the admin token of this cloud. It was printed once when the cloud first started, or set with CLAWFLEET_ADMIN_TOKEN.',
      'login.console': 'Not the operator? Sign in to your OpenClaw in the console.',
      'login.tokenLabel': 'Admin token',
      'login.tokenPlaceholder': 'cfa_…',
      'login.submit': 'Sign in',
      'login.checking': 'Checking…',
      'login.empty': 'Enter the admin token.',
      'login.signedOut': 'You have been signed out.',

      'health.ok': 'Healthy',
      'health.degraded': 'Degraded',
      'health.unreachable': 'Cloud unreachable',
      'health.checking': 'Checking…',
      'health.store': 'Store',
      'health.broker': 'Broker',
      'health.version': 'Version',
      'health.value.ok': 'ok',
      'health.value.absent': 'absent',

      'common.refresh': 'Refresh',
      'common.loading': 'Loading…',
      'common.copy': 'Copy',
      'common.copied': 'Copied to the clipboard',
      'common.copyFailed': 'Could not copy; select the text and copy it by hand.',
      'common.cancel': 'Cancel',
      'common.save': 'Save',
      'common.saving': 'Saving…',
      'common.actions': 'Actions',
      'common.never': 'never',
      'common.none': '—',
      'common.close': 'Close',
      'common.updated': 'Updated {time}.',

      'status.online': 'Online',
      'status.offline': 'Offline',
      'status.pending': 'Pending',
      'status.unknown': 'Unknown',

      'hosts.title': 'Hosts',
      'hosts.autoRefresh': 'Refreshes every 5 seconds.',
      'hosts.filter': 'Filter by name, id, label…',
      'hosts.total': 'Total',
      'hosts.noMatch': 'No host matches the filter.',
      'hosts.col.name': 'Name',
      'hosts.col.id': 'ID',
      'hosts.col.status': 'Status',
      'hosts.col.lastHeartbeat': 'Last heartbeat',
      'hosts.col.agent': 'Agent',
      'hosts.col.platform': 'OS / arch',
      'hosts.col.cpu': 'CPU',
      'hosts.col.memory': 'Memory',
      'hosts.col.disk': 'Disk',
      'hosts.col.load': 'Load (1m)',
      'hosts.col.tenants': 'Tenants',
      'hosts.tenantCount': '{n} tenants',
      'hosts.tenantCount.one': '1 tenant',
      'hosts.reservedCPU': 'CPU {used} / {total}',
      'hosts.reservedMem': 'Mem {used} / {total}',
      'hosts.capacityTitle': 'Reserved by tenants / capacity for tenants',
      'hosts.cpus': '{n} CPUs',
      'hosts.delete': 'Revoke',
      'hosts.credentialsShared': 'Two devices use these credentials',
      'hosts.credentialsSharedHint': 'Another device connects with this host\'s credentials and another WireGuard key (a copied credentials file, two boxes flashed alike); the latest one to connect holds the tunnel. Last seen {at}. Give the other device its own credentials.',
      'hosts.deleteTitle': 'Revoke host',
      'hosts.deleteConfirm': 'Revoke host “{name}” ({id})? Its credentials stop working at once and it is disconnected. This cannot be undone; to bring the machine back it must enroll again.',
      'hosts.deleted': 'Host “{name}” revoked.',
      'hosts.empty.title': 'No hosts yet',
      'hosts.empty.step1': '1. Create an enrollment token in the “Enrollment tokens” tab.',
      'hosts.empty.step2': '2. On the machine to add, run as root the command shown with the token: it installs the agent, enrolls the machine and starts the agent (docs/workers.md):',
      'hosts.empty.action': 'Create an enrollment token',

      'tenants.title': 'Tenants',
      'tenants.autoRefresh': 'Refreshes every 5 seconds.',
      'tenants.create.title': 'New tenant',
      'tenants.create.submit': 'Create tenant',
      'tenants.create.busy': 'Creating…',
      'tenants.create.exists': 'This owner already has a tenant ({id}). Delete it first to create another.',
      'tenants.created': 'Tenant “{slug}” created on {host}.',
      'tenants.owner': 'Owner user ID',
      'tenants.ownerPlaceholder': 'user-123',
      'tenants.ownerHint': 'The user’s ID in the web app (X-User-ID); one tenant per user.',
      'tenants.email': 'Owner email',
      'tenants.emailPlaceholder': 'name@example.com',
      'tenants.emailHint': 'Optional.',
      'tenants.plan': 'Plan',
      'tenants.planHint': 'Sets the CPU, memory and disk limits.',
      'tenants.name': 'Name',
      'tenants.namePlaceholder': 'My claw',
      'tenants.nameHint': 'Optional, up to 64 characters; the URL is made from it.',
      'tenants.total': 'Total',
      'tenants.startingOrPending': 'Pending or starting',
      'tenants.failedOrStopped': 'Failed or stopped',
      'tenants.col.tenant': 'Tenant',
      'tenants.col.owner': 'Owner',
      'tenants.col.plan': 'Plan',
      'tenants.col.status': 'Status',
      'tenants.col.host': 'Host',
      'tenants.col.port': 'Port',
      'tenants.col.url': 'URL',
      'tenants.col.restarts': 'Restarts',
      'tenants.col.created': 'Created',
      'tenants.resources': '{cpu}m CPU · {mem}',
      'tenants.disk': 'Disk {used} of {total}',
      'tenants.diskTitle': 'Disk in use as its host measured it at {time}',
      'tenants.resourcesTitle': 'CPU {cpu} millicores, memory {mem}, disk {disk}, at most {pids} processes',
      'tenants.status.pending': 'Pending',
      'tenants.status.starting': 'Starting',
      'tenants.status.running': 'Running',
      'tenants.status.stopped': 'Stopped',
      'tenants.status.failed': 'Failed',
      'tenants.status.deleting': 'Deleting',
      'tenants.restart': 'Restart',
      'tenants.restartTitle': 'Restart tenant',
      'tenants.restartConfirm': 'Restart tenant “{slug}” of {owner}? Its gateway is stopped and started again; open sessions are interrupted.',
      'tenants.restarted': 'Restart of “{slug}” requested.',
      'tenants.delete': 'Delete',
      'tenants.deleteTitle': 'Delete tenant',
      'tenants.deleteConfirm': 'Delete tenant “{slug}” of {owner}? Its gateway is stopped and removed from host {host}. This cannot be undone.',
      'tenants.keepData': 'Keep its data on the host (otherwise it is erased)',
      'tenants.deleted': 'Tenant “{slug}” deleted.',
      'tenants.deletedKept': 'Tenant “{slug}” deleted; its data was kept on the host.',
      'tenants.logs': 'Logs',
      'tenants.open': 'Open',
      'tenants.openTitle': 'Open the gateway as its owner (one-time link, recorded in the audit log)',
      'tenants.signOut': 'Sign out',
      'tenants.signOutTitle': 'End every session into this gateway and close its open connections',
      'tenants.signOutConfirm': 'Sign everyone out of “{slug}” of {owner}? Every browser session and unused link into the gateway stops working and open connections are closed; the owner can open it again from the console.',
      'tenants.signedOut': 'Signed out of “{slug}”: {n} connections closed.',
      'tenants.logs.title': 'Logs of',
      'tenants.logs.hint': 'The last 200 lines, read from the host.',
      'tenants.logs.empty': 'No log lines yet.',
      'tenants.logs.loading': 'Loading logs…',
      'tenants.empty.title': 'No tenants yet',
      'tenants.empty.hint': 'Create one with the form above; users of the web app create their own.',

      'tokens.title': 'Enrollment tokens',
      'tokens.subtitle': 'A token lets new hosts register themselves with this cloud. Only its hash is stored.',
      'tokens.create.title': 'New enrollment token',
      'tokens.create.submit': 'Create token',
      'tokens.create.busy': 'Creating…',
      'tokens.ttl': 'Valid for',
      'tokens.ttlHint': 'e.g. 30m, 1h, 7d (1m to 365d)',
      'tokens.uses': 'Uses',
      'tokens.usesHint': 'How many hosts may enroll with it (1 to 100000)',
      'tokens.labels': 'Labels',
      'tokens.labelsPlaceholder': 'env=prod, region=cn-east',
      'tokens.labelsHint': 'Optional key=value pairs, comma-separated; given to every host that enrolls with the token.',
      'tokens.new.warning': 'Copy this token now: it is shown only once and cannot be displayed again.',
      'tokens.new.token': 'Token',
      'tokens.new.command': 'Install command (run as root on the machine to add)',
      'tokens.new.dismiss': 'I have copied it',
      'tokens.col.id': 'ID',
      'tokens.col.status': 'Status',
      'tokens.col.usesLeft': 'Uses left',
      'tokens.col.expires': 'Expires',
      'tokens.col.labels': 'Labels',
      'tokens.col.created': 'Created',
      'tokens.col.lastUsed': 'Last used',
      'tokens.usesOf': '{left} of {total}',
      'tokens.state.active': 'Active',
      'tokens.state.expired': 'Expired',
      'tokens.state.revoked': 'Revoked',
      'tokens.state.usedUp': 'Used up',
      'tokens.revoke': 'Revoke',
      'tokens.revokeTitle': 'Revoke enrollment token',
      'tokens.revokeConfirm': 'Revoke enrollment token {id}? Hosts can no longer enroll with it; hosts that already enrolled are not affected.',
      'tokens.revoked': 'Token {id} revoked.',
      'tokens.empty': 'No enrollment tokens yet. Create one above.',
      'batches.title': 'Factory batches',
      'batches.subtitle': 'Boxes made by clawfleet-provision batch. A box runs only its owner’s instances, never the shared pool’s.',
      'batches.col.id': 'Batch',
      'batches.col.model': 'Model',
      'batches.col.status': 'Status',
      'batches.col.devices': 'Boxes',
      'batches.col.online': 'Online',
      'batches.col.pending': 'Never connected',
      'batches.col.offline': 'Offline',
      'batches.col.deleted': 'Deleted',
      'batches.col.claimed': 'Claimed',
      'batches.col.created': 'Created',
      'batches.state.active': 'Active',
      'batches.state.revoked': 'Revoked',
      'batches.revoke': 'Revoke',
      'batches.revokeTitle': 'Revoke batch',
      'batches.revokeConfirm': 'Revoke batch {id}? Its {n} boxes are deleted and can no longer connect; the batch takes no more boxes. This cannot be undone.',
      'batches.revoked': 'Batch {id} revoked.',
      'batches.empty': 'No batches yet. Make one with clawfleet-provision batch at the factory.',
      'boxes.title': 'Boxes',
      'boxes.subtitle': 'Every box with its owner. A reset wipes the box and frees it; a reprint gives it a new claim code, so the old label stops working.',
      'boxes.col.device': 'Device',
      'boxes.col.batch': 'Batch',
      'boxes.col.status': 'Status',
      'boxes.col.claim': 'Claim',
      'boxes.col.owner': 'Owner',
      'boxes.col.claimedAt': 'Claimed',
      'boxes.claimed': 'Claimed',
      'boxes.unclaimed': 'Unclaimed',
      'boxes.deleted': 'Taken out of service',
      'boxes.team': 'team {team}',
      'boxes.reports': 'the box says: {state}',
      'boxes.state.claimed': 'claimed',
      'boxes.state.unclaimed': 'unclaimed',
      'boxes.reset': 'Reset',
      'boxes.resetTitle': 'Factory reset',
      'boxes.resetConfirm': 'Reset box {id}? Its owner loses it, its instance is deleted with its data, and the box is wiped and unclaimed.',
      'boxes.resetFresh': 'Also issue a new claim code (the old label stops working)',
      'boxes.resetDone': 'Box {id} reset.',
      'boxes.reprint': 'Reprint label',
      'boxes.reprintTitle': 'Reprint label',
      'boxes.reprintConfirm': 'Give box {id} a new claim code? The old label stops working at once; its owner keeps the box.',
      'boxes.code.warning': 'The new claim code is shown only now: print or download the label before you leave this page.',
      'boxes.code.code': 'Claim code',
      'boxes.code.url': 'Claim link',
      'boxes.code.download': 'Download label (PNG)',
      'boxes.empty': 'No boxes yet.',

      'settings.title': 'Settings',
      'settings.heartbeat': 'Heartbeat interval',
      'settings.heartbeatHint': 'How often agents report. Whole seconds from 1s to 10m, e.g. 5s, 30s, 1m. Pushed to every host at once.',
      'settings.saved': 'Saved. Heartbeat interval is now {value}.',

      'time.justNow': 'just now',
      'time.past.s': '{n} s ago',
      'time.past.m': '{n} min ago',
      'time.past.h': '{n} h ago',
      'time.past.d': '{n} d ago',
      'time.future.s': 'in {n} s',
      'time.future.m': 'in {n} min',
      'time.future.h': 'in {n} h',
      'time.future.d': 'in {n} d',

      'err.unauthorized': 'The admin token was rejected. Check it and sign in again.',
      'err.rate_limited': 'Too many attempts from this address. Wait a moment and try again.',
      'err.too_many_streams': 'Too many log streams are open (other tabs or windows). Close one and try again.',
      'err.not_found': 'Not found; it may already have been removed.',
      'err.too_large': 'The request is too large.',
      'err.internal': 'The cloud hit an internal error; see its log.',
      'err.method_not_allowed': 'This action is not supported by the cloud.',
      'err.invalid_request': 'Invalid request: {detail}',
      'err.invalid_json': 'The cloud could not read the request: {detail}',
      'err.token_invalid': 'The enrollment token is not valid.',
      'err.token_expired': 'The enrollment token has expired.',
      'err.token_revoked': 'The enrollment token has been revoked.',
      'err.token_used_up': 'The enrollment token has no uses left.',
      'err.invalid_plan': 'Invalid plan: {detail}',
      'err.invalid_name': 'Invalid name: {detail}',
      'err.invalid_user': 'The owner user ID must be 1 to 128 characters without control characters.',
      'err.invalid_email': 'The email must be an address of at most 254 characters with an @.',
      'err.no_capacity': 'No online host has room for this plan: {detail}',
      'err.no_tenant': 'This tenant no longer exists.',
      'err.conflict': 'Conflict: {detail}',
      'err.host_offline': 'The tenant’s host is offline; try again when it is back.',
      'err.host_timeout': 'The host did not answer in time; try again.',
      'err.host_error': 'The host reported an error: {detail}',
      'err.owner': 'Enter the owner’s user ID.',
      'err.email': 'Enter a valid email address or leave it empty.',
      'err.network': 'Cannot reach the cloud. Check the connection; retrying automatically.',
      'err.http': 'Request failed (HTTP {status}).',
      'err.labels': 'Labels must be key=value pairs separated by commas; “{part}” is not.',
      'err.labelsDup': 'Label “{key}” is given twice.',
      'err.uses': 'Uses must be a whole number from 1 to 100000.',
      'err.ttl': 'Enter how long the token is valid, e.g. 1h or 7d.',
      'err.heartbeat': 'Enter an interval, e.g. 5s or 1m.'
    },

    'zh-CN': {
      'app.title': 'ClawFleet',
      'lang.switch': 'English',
      'lang.switchTitle': '切换为英文界面',

      'nav.hosts': '主机',
      'nav.tenants': '租户',
      'nav.tokens': '注册令牌',
      'nav.batches': '出厂批次',
      'hosts.kind.box': '盒子：只运行其主人的实例',
      'hosts.pool': '资源池 {pool}',
      'nav.settings': '设置',
      'nav.logout': '退出登录',

      'login.title': '登录 ClawFleet',
      'login.hint': '请输入此云端的管理员令牌。它在云端首次启动时显示过一次，或通过 CLAWFLEET_ADMIN_TOKEN 设置。',
      'login.console': '不是运维人员？请在控制台登录你的 OpenClaw。',
      'login.tokenLabel': '管理员令牌',
      'login.tokenPlaceholder': 'cfa_…',
      'login.submit': '登录',
      'login.checking': '正在验证…',
      'login.empty': '请输入管理员令牌。',
      'login.signedOut': '您已退出登录。',

      'health.ok': '运行正常',
      'health.degraded': '部分异常',
      'health.unreachable': '无法连接云端',
      'health.checking': '正在检查…',
      'health.store': '存储',
      'health.broker': '消息代理',
      'health.version': '版本',
      'health.value.ok': '正常',
      'health.value.absent': '未配置',

      'common.refresh': '刷新',
      'common.loading': '加载中…',
      'common.copy': '复制',
      'common.copied': '已复制到剪贴板',
      'common.copyFailed': '无法复制，请手动选中文本复制。',
      'common.cancel': '取消',
      'common.save': '保存',
      'common.saving': '正在保存…',
      'common.actions': '操作',
      'common.never': '从未',
      'common.none': '—',
      'common.close': '关闭',
      'common.updated': '更新于 {time}。',

      'status.online': '在线',
      'status.offline': '离线',
      'status.pending': '待接入',
      'status.unknown': '未知',

      'hosts.title': '主机',
      'hosts.autoRefresh': '每 5 秒自动刷新。',
      'hosts.filter': '按名称、ID、标签筛选…',
      'hosts.total': '总数',
      'hosts.noMatch': '没有符合筛选条件的主机。',
      'hosts.col.name': '名称',
      'hosts.col.id': 'ID',
      'hosts.col.status': '状态',
      'hosts.col.lastHeartbeat': '最近心跳',
      'hosts.col.agent': '代理版本',
      'hosts.col.platform': '系统 / 架构',
      'hosts.col.cpu': 'CPU',
      'hosts.col.memory': '内存',
      'hosts.col.disk': '磁盘',
      'hosts.col.load': '负载（1 分钟）',
      'hosts.col.tenants': '租户',
      'hosts.tenantCount': '{n} 个租户',
      'hosts.tenantCount.one': '1 个租户',
      'hosts.reservedCPU': 'CPU {used} / {total}',
      'hosts.reservedMem': '内存 {used} / {total}',
      'hosts.capacityTitle': '租户已预留 / 可供租户使用的容量',
      'hosts.cpus': '{n} 核',
      'hosts.delete': '吊销',
      'hosts.credentialsShared': '两台设备在使用同一凭据',
      'hosts.credentialsSharedHint': '另一台设备用本主机的凭据和另一个 WireGuard 密钥连接（凭据文件被复制，或两台盒子刷了相同的镜像）；最后连接的一台占用隧道。最近一次：{at}。请为另一台设备分配独立的凭据。',
      'hosts.deleteTitle': '吊销主机',
      'hosts.deleteConfirm': '确定吊销主机“{name}”（{id}）吗？其凭据将立即失效并断开连接。此操作无法撤销；该机器需重新注册才能再次接入。',
      'hosts.deleted': '已吊销主机“{name}”。',
      'hosts.empty.title': '还没有主机',
      'hosts.empty.step1': '1. 在“注册令牌”页创建一个注册令牌。',
      'hosts.empty.step2': '2. 在要添加的机器上以 root 运行创建令牌后显示的命令：它安装代理、注册这台机器并启动代理（docs/workers.md）：',
      'hosts.empty.action': '创建注册令牌',

      'tenants.title': '租户',
      'tenants.autoRefresh': '每 5 秒自动刷新。',
      'tenants.create.title': '新建租户',
      'tenants.create.submit': '创建租户',
      'tenants.create.busy': '正在创建…',
      'tenants.create.exists': '该用户已有租户（{id}）。请先删除它，再创建新的。',
      'tenants.created': '已在 {host} 上创建租户“{slug}”。',
      'tenants.owner': '所有者用户 ID',
      'tenants.ownerPlaceholder': 'user-123',
      'tenants.ownerHint': '用户在 Web 应用中的 ID（X-User-ID）；每个用户一个租户。',
      'tenants.email': '所有者邮箱',
      'tenants.emailPlaceholder': 'name@example.com',
      'tenants.emailHint': '可选。',
      'tenants.plan': '套餐',
      'tenants.planHint': '决定 CPU、内存和磁盘限额。',
      'tenants.name': '名称',
      'tenants.namePlaceholder': '我的 Claw',
      'tenants.nameHint': '可选，最多 64 个字符；访问网址由它生成。',
      'tenants.total': '总数',
      'tenants.startingOrPending': '等待中或启动中',
      'tenants.failedOrStopped': '失败或已停止',
      'tenants.col.tenant': '租户',
      'tenants.col.owner': '所有者',
      'tenants.col.plan': '套餐',
      'tenants.col.status': '状态',
      'tenants.col.host': '主机',
      'tenants.col.port': '端口',
      'tenants.col.url': '网址',
      'tenants.col.restarts': '重启次数',
      'tenants.col.created': '创建时间',
      'tenants.resources': '{cpu}m CPU · {mem}',
      'tenants.disk': '磁盘 {used} / {total}',
      'tenants.diskTitle': '主机于 {time} 测得的磁盘用量',
      'tenants.resourcesTitle': 'CPU {cpu} 毫核，内存 {mem}，磁盘 {disk}，进程数上限 {pids}',
      'tenants.status.pending': '等待中',
      'tenants.status.starting': '启动中',
      'tenants.status.running': '运行中',
      'tenants.status.stopped': '已停止',
      'tenants.status.failed': '失败',
      'tenants.status.deleting': '删除中',
      'tenants.restart': '重启',
      'tenants.restartTitle': '重启租户',
      'tenants.restartConfirm': '确定重启 {owner} 的租户“{slug}”吗？其网关将停止后重新启动，当前会话会中断。',
      'tenants.restarted': '已请求重启“{slug}”。',
      'tenants.delete': '删除',
      'tenants.deleteTitle': '删除租户',
      'tenants.deleteConfirm': '确定删除 {owner} 的租户“{slug}”吗？其网关将停止并从主机 {host} 上移除。此操作无法撤销。',
      'tenants.keepData': '在主机上保留其数据（否则将被清除）',
      'tenants.deleted': '已删除租户“{slug}”。',
      'tenants.deletedKept': '已删除租户“{slug}”，其数据保留在主机上。',
      'tenants.logs': '日志',
      'tenants.open': '打开',
      'tenants.openTitle': '以所有者身份打开网关（一次性链接，记录在审计日志中）',
      'tenants.signOut': '退出登录',
      'tenants.signOutTitle': '结束进入此网关的所有会话，并关闭其已打开的连接',
      'tenants.signOutConfirm': '确定让 {owner} 的“{slug}”上的所有人退出登录吗？进入该网关的所有浏览器会话和未使用的链接都将失效，已打开的连接会被关闭；所有者可以从控制台重新打开。',
      'tenants.signedOut': '已退出“{slug}”的登录：关闭了 {n} 个连接。',
      'tenants.logs.title': '日志：',
      'tenants.logs.hint': '最近 200 行，从主机读取。',
      'tenants.logs.empty': '暂无日志。',
      'tenants.logs.loading': '正在加载日志…',
      'tenants.empty.title': '还没有租户',
      'tenants.empty.hint': '可用上方表单创建；Web 应用的用户也会自行创建。',

      'tokens.title': '注册令牌',
      'tokens.subtitle': '新主机凭注册令牌向此云端注册。云端只保存令牌的哈希值。',
      'tokens.create.title': '新建注册令牌',
      'tokens.create.submit': '创建令牌',
      'tokens.create.busy': '正在创建…',
      'tokens.ttl': '有效期',
      'tokens.ttlHint': '例如 30m、1h、7d（1 分钟至 365 天）',
      'tokens.uses': '可用次数',
      'tokens.usesHint': '允许多少台主机用它注册（1 至 100000）',
      'tokens.labels': '标签',
      'tokens.labelsPlaceholder': 'env=prod, region=cn-east',
      'tokens.labelsHint': '可选，键=值，用逗号分隔；用此令牌注册的主机都会带上这些标签。',
      'tokens.new.warning': '请立即复制此令牌：它只显示这一次，之后无法再次查看。',
      'tokens.new.token': '令牌',
      'tokens.new.command': '安装命令（在要添加的机器上以 root 运行）',
      'tokens.new.dismiss': '我已复制',
      'tokens.col.id': 'ID',
      'tokens.col.status': '状态',
      'tokens.col.usesLeft': '剩余次数',
      'tokens.col.expires': '过期时间',
      'tokens.col.labels': '标签',
      'tokens.col.created': '创建时间',
      'tokens.col.lastUsed': '最近使用',
      'tokens.usesOf': '{left} / {total}',
      'tokens.state.active': '有效',
      'tokens.state.expired': '已过期',
      'tokens.state.revoked': '已吊销',
      'tokens.state.usedUp': '已用完',
      'tokens.revoke': '吊销',
      'tokens.revokeTitle': '吊销注册令牌',
      'tokens.revokeConfirm': '确定吊销注册令牌 {id} 吗？之后不能再用它注册主机；已注册的主机不受影响。',
      'tokens.revoked': '已吊销令牌 {id}。',
      'tokens.empty': '还没有注册令牌，请在上方创建。',
      'batches.title': '出厂批次',
      'batches.subtitle': '由 clawfleet-provision batch 生成的盒子。盒子只运行其主人的实例，从不运行共享池的租户。',
      'batches.col.id': '批次',
      'batches.col.model': '型号',
      'batches.col.status': '状态',
      'batches.col.devices': '盒子',
      'batches.col.online': '在线',
      'batches.col.pending': '从未连接',
      'batches.col.offline': '离线',
      'batches.col.deleted': '已删除',
      'batches.col.claimed': '已认领',
      'batches.col.created': '创建时间',
      'batches.state.active': '有效',
      'batches.state.revoked': '已吊销',
      'batches.revoke': '吊销',
      'batches.revokeTitle': '吊销批次',
      'batches.revokeConfirm': '确定吊销批次 {id} 吗？其中 {n} 台盒子将被删除且无法再连接；此批次不再接受新盒子。此操作无法撤销。',
      'batches.revoked': '已吊销批次 {id}。',
      'batches.empty': '还没有批次。请在工厂用 clawfleet-provision batch 生成。',
      'boxes.title': '盒子',
      'boxes.subtitle': '所有盒子及其主人。重置会清除盒子并解除认领；重新打印会为盒子生成新的认领码，旧标签随即失效。',
      'boxes.col.device': '设备',
      'boxes.col.batch': '批次',
      'boxes.col.status': '状态',
      'boxes.col.claim': '认领',
      'boxes.col.owner': '主人',
      'boxes.col.claimedAt': '认领时间',
      'boxes.claimed': '已认领',
      'boxes.unclaimed': '未认领',
      'boxes.deleted': '已停用',
      'boxes.team': '团队 {team}',
      'boxes.reports': '盒子上报：{state}',
      'boxes.state.claimed': '已认领',
      'boxes.state.unclaimed': '未认领',
      'boxes.reset': '重置',
      'boxes.resetTitle': '恢复出厂设置',
      'boxes.resetConfirm': '确定重置盒子 {id} 吗？其主人将失去此盒子，实例及其数据将被删除，盒子会被清除并解除认领。',
      'boxes.resetFresh': '同时生成新的认领码（旧标签失效）',
      'boxes.resetDone': '已重置盒子 {id}。',
      'boxes.reprint': '重新打印标签',
      'boxes.reprintTitle': '重新打印标签',
      'boxes.reprintConfirm': '确定为盒子 {id} 生成新的认领码吗？旧标签立即失效；主人仍保有此盒子。',
      'boxes.code.warning': '新的认领码只显示这一次：离开此页面前请打印或下载标签。',
      'boxes.code.code': '认领码',
      'boxes.code.url': '认领链接',
      'boxes.code.download': '下载标签（PNG）',
      'boxes.empty': '还没有盒子。',

      'settings.title': '设置',
      'settings.heartbeat': '心跳间隔',
      'settings.heartbeatHint': '代理上报的频率。须为整秒，范围 1s 至 10m，例如 5s、30s、1m。保存后立即下发到所有主机。',
      'settings.saved': '已保存，心跳间隔现为 {value}。',

      'time.justNow': '刚刚',
      'time.past.s': '{n} 秒前',
      'time.past.m': '{n} 分钟前',
      'time.past.h': '{n} 小时前',
      'time.past.d': '{n} 天前',
      'time.future.s': '{n} 秒后',
      'time.future.m': '{n} 分钟后',
      'time.future.h': '{n} 小时后',
      'time.future.d': '{n} 天后',

      'err.unauthorized': '管理员令牌无效，请检查后重新登录。',
      'err.rate_limited': '此地址尝试次数过多，请稍候再试。',
      'err.too_many_streams': '打开的日志流过多（其他标签页或窗口）。请关闭一个后重试。',
      'err.not_found': '未找到，可能已被删除。',
      'err.too_large': '请求内容过大。',
      'err.internal': '云端发生内部错误，请查看云端日志。',
      'err.method_not_allowed': '云端不支持此操作。',
      'err.invalid_request': '请求无效：{detail}',
      'err.invalid_json': '云端无法解析请求：{detail}',
      'err.token_invalid': '注册令牌无效。',
      'err.token_expired': '注册令牌已过期。',
      'err.token_revoked': '注册令牌已被吊销。',
      'err.token_used_up': '注册令牌的可用次数已用完。',
      'err.invalid_plan': '套餐无效：{detail}',
      'err.invalid_name': '名称无效：{detail}',
      'err.invalid_user': '所有者用户 ID 须为 1 至 128 个字符，且不含控制字符。',
      'err.invalid_email': '邮箱须为含 @ 的地址，最多 254 个字符。',
      'err.no_capacity': '没有在线主机能容纳此套餐：{detail}',
      'err.no_tenant': '该租户已不存在。',
      'err.conflict': '状态冲突：{detail}',
      'err.host_offline': '租户所在主机离线，请待其恢复后重试。',
      'err.host_timeout': '主机未及时响应，请重试。',
      'err.host_error': '主机报告错误：{detail}',
      'err.owner': '请输入所有者用户 ID。',
      'err.email': '请输入有效的邮箱地址，或留空。',
      'err.network': '无法连接云端，请检查网络；将自动重试。',
      'err.http': '请求失败（HTTP {status}）。',
      'err.labels': '标签须为以逗号分隔的“键=值”；“{part}”格式不对。',
      'err.labelsDup': '标签“{key}”重复。',
      'err.uses': '可用次数须为 1 至 100000 的整数。',
      'err.ttl': '请输入有效期，例如 1h 或 7d。',
      'err.heartbeat': '请输入间隔，例如 5s 或 1m。'
    }
  };

  var LANG_KEY = 'clawfleet.lang';
  var TOKEN_KEY = 'clawfleet.adminToken';
  var TAB_KEY = 'clawfleet.tab';
  var REFRESH_MS = 5000;

  function normLang(l) {
    return /^zh/i.test(String(l || '')) ? 'zh-CN' : 'en';
  }

  function storageGet(store, key) {
    try { return store.getItem(key); } catch (e) { return null; }
  }
  function storageSet(store, key, value) {
    try {
      if (value === null) store.removeItem(key); else store.setItem(key, value);
    } catch (e) { /* storage may be disabled; keep working in memory */ }
  }

  var state = {
    lang: 'en',
    token: null,
    tab: 'hosts',
    hosts: null,         // last host list, or null before the first load
    hostsAt: null,       // Date of the last successful host load
    tokens: null,
    batches: null,       // last batch list, or null before the first load
    boxes: null,         // last box list, or null before the first load
    health: null,        // last /api/health body, or {unreachable:true}
    session: 0,          // bumped on sign-in/out so stale responses are dropped
    timer: null,
    hostsBusy: false,
    hostsAgain: false,
    tenants: null,       // last tenant list, or null before the first load
    tenantsAt: null,
    tenantsBusy: false,
    tenantsAgain: false,
    logs: null,          // {id, slug} of the tenant whose logs are shown
    logsLines: null,     // its last lines, or null before they arrive
    logsState: '',       // loading, loaded or error
    logsAt: null,
    logsSeq: 0,          // drops answers for a panel since closed or reloaded
    pendingLogs: null    // tenant id from #logs=… to open once tenants load
  };

  function t(key, params) {
    var s = I18N[state.lang][key];
    if (s === undefined) s = I18N.en[key];
    if (s === undefined) return key;
    if (params) {
      s = s.replace(/\{(\w+)\}/g, function (m, k) {
        return Object.prototype.hasOwnProperty.call(params, k) ? String(params[k]) : m;
      });
    }
    return s;
  }

  function applyStaticI18n() {
    document.documentElement.lang = state.lang;
    document.title = t('app.title');
    each('[data-i18n]', function (el) { el.textContent = t(el.getAttribute('data-i18n')); });
    each('[data-i18n-placeholder]', function (el) { el.placeholder = t(el.getAttribute('data-i18n-placeholder')); });
    each('[data-i18n-aria-label]', function (el) { el.setAttribute('aria-label', t(el.getAttribute('data-i18n-aria-label'))); });
    var toggle = $('lang-toggle');
    toggle.textContent = t('lang.switch');
    toggle.title = t('lang.switchTitle');
    toggle.setAttribute('data-lang', state.lang);
    toggle.setAttribute('lang', state.lang === 'en' ? 'zh-CN' : 'en');
  }

  function setLang(lang, persist) {
    state.lang = normLang(lang);
    if (persist) storageSet(localStorage, LANG_KEY, state.lang);
    document.body.setAttribute('data-lang', state.lang);
    applyStaticI18n();
    rerenderAll();
  }

  // ----------------------------------------------------------- helpers --

  function $(id) { return document.getElementById(id); }

  function each(sel, fn) {
    var list = document.querySelectorAll(sel);
    for (var i = 0; i < list.length; i++) fn(list[i]);
  }

  // el builds an element; text children become text nodes (never HTML).
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k)) continue;
        var v = attrs[k];
        if (v === null || v === undefined || v === false) continue;
        if (k === 'text') e.textContent = String(v);
        else if (k === 'className') e.className = v;
        else if (k === 'onclick') e.addEventListener('click', v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    if (children) {
      for (var i = 0; i < children.length; i++) {
        var c = children[i];
        if (c === null || c === undefined || c === false) continue;
        e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
      }
    }
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function show(node, visible) {
    if (typeof node === 'string') node = $(node);
    node.hidden = !visible;
  }

  function setAlert(id, message) {
    var n = $(id);
    n.textContent = message || '';
    n.hidden = !message;
  }

  var toastTimer = null;
  function toast(message) {
    var n = $('toast');
    n.textContent = message;
    n.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { n.hidden = true; }, 3500);
  }

  function fmtBytes(n) {
    n = Number(n) || 0;
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    var digits = i === 0 || n >= 100 ? 0 : (n >= 10 ? 1 : 2);
    return n.toFixed(digits) + ' ' + units[i];
  }

  function fmtAbs(d) {
    try {
      return d.toLocaleString(state.lang, { dateStyle: 'medium', timeStyle: 'medium' });
    } catch (e) {
      return d.toISOString();
    }
  }

  function parseTime(s) {
    if (!s) return null;
    var d = new Date(s);
    return isNaN(d.getTime()) ? null : d;
  }

  // rel formats a time relative to now, past or future, from the dictionary.
  function rel(d) {
    var diff = Math.round((d.getTime() - Date.now()) / 1000);
    var future = diff > 0;
    var s = Math.abs(diff);
    if (!future && s < 5) return t('time.justNow');
    // Rounded to the nearest unit, so a 2 h token created a second ago
    // reads "in 2 h", not "in 1 h".
    var unit, n;
    if (s < 60) { unit = 's'; n = s; }
    else if (s < 3570) { unit = 'm'; n = Math.round(s / 60); }
    else if (s < 84600) { unit = 'h'; n = Math.round(s / 3600); }
    else { unit = 'd'; n = Math.round(s / 86400); }
    return t((future ? 'time.future.' : 'time.past.') + unit, { n: n });
  }

  // timeCell renders a relative time with the absolute one as a tooltip.
  function timeNode(s, emptyKey) {
    var d = parseTime(s);
    if (!d) return el('span', { className: 'muted', text: t(emptyKey || 'common.never') });
    return el('time', { datetime: d.toISOString(), title: fmtAbs(d), text: rel(d) });
  }

  function pct(used, total) {
    if (!total) return null;
    return Math.max(0, Math.min(100, (used / total) * 100));
  }

  function meter(percent, label) {
    var level = percent >= 90 ? 'crit' : (percent >= 75 ? 'warn' : 'ok');
    var bar = el('span', { className: 'meter-fill meter-' + level });
    bar.style.width = percent.toFixed(1) + '%';
    return el('span', { className: 'meter-wrap' }, [
      el('span', { className: 'meter-text', text: label }),
      el('span', { className: 'meter', 'aria-hidden': 'true' }, [bar])
    ]);
  }

  // ------------------------------------------------------------- API --

  function ApiError(status, code, message, data) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.data = data || null; // the whole error body
  }

  // errorText maps an API error code to a translated message (those with a
  // {detail} placeholder quote the server's text); unknown codes fall back
  // to the server's own text.
  function errorText(err) {
    if (!err) return '';
    if (!(err instanceof ApiError)) return String(err.message || err);
    var code = err.code;
    if (code && Object.prototype.hasOwnProperty.call(I18N.en, 'err.' + code)) {
      return t('err.' + code, { detail: err.message || '' });
    }
    if (err.message) return err.message;
    return t('err.http', { status: err.status });
  }

  function api(method, path, body) {
    var session = state.session;
    var headers = { 'Accept': 'application/json' };
    if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        if (text) {
          try { data = JSON.parse(text); } catch (e) { data = null; }
        }
        if (session !== state.session) {
          throw new ApiError(0, 'stale', 'stale response');
        }
        if (!res.ok) {
          var code = data && typeof data.code === 'string' ? data.code : '';
          var msg = data && typeof data.error === 'string' ? data.error : res.statusText;
          var err = new ApiError(res.status, code, msg, data);
          if (res.status === 401) {
            signOut('unauthorized');
          }
          throw err;
        }
        return data;
      });
    }, function (e) {
      throw new ApiError(0, 'network', String((e && e.message) || e));
    });
  }

  // isQuiet reports errors that need no message where they happened: stale
  // responses and a rejected token (which already sends the user to login).
  function isQuiet(err) {
    return err instanceof ApiError && (err.code === 'stale' || err.status === 401);
  }

  // ---------------------------------------------------------- health --

  function loadHealth() {
    return fetch('/api/health', { cache: 'no-store', credentials: 'omit' }).then(function (res) {
      return res.json();
    }).then(function (h) {
      state.health = h || { unreachable: true };
    }, function () {
      state.health = { unreachable: true };
    }).then(renderHealth);
  }

  function healthValue(v) {
    if (v === 'ok') return t('health.value.ok');
    if (v === 'absent') return t('health.value.absent');
    return String(v || '?');
  }

  function renderHealth() {
    var box = $('health');
    var txt = $('health-text');
    var h = state.health;
    if (!h) {
      box.setAttribute('data-status', 'unknown');
      txt.textContent = t('health.checking');
      box.removeAttribute('title');
      return;
    }
    if (h.unreachable) {
      box.setAttribute('data-status', 'unreachable');
      txt.textContent = t('health.unreachable');
      box.removeAttribute('title');
      return;
    }
    var status = h.status === 'ok' ? 'ok' : 'degraded';
    box.setAttribute('data-status', status);
    var parts = [
      t('health.' + status),
      t('health.store') + ': ' + healthValue(h.store),
      t('health.broker') + ': ' + healthValue(h.broker),
      t('health.version') + ' ' + String(h.version || '?')
    ];
    txt.textContent = parts.join(' · ');
    box.title = parts.join('\n');
    box.setAttribute('data-store', String(h.store || ''));
    box.setAttribute('data-broker', String(h.broker || ''));
    box.setAttribute('data-version', String(h.version || ''));
  }

  // ----------------------------------------------------------- hosts --

  // loadHosts fetches the host list; a call while one is in flight makes
  // that one run again when it ends (so a list requested after a change
  // never shows the state from before it).
  function loadHosts() {
    if (state.hostsBusy) {
      state.hostsAgain = true;
      return Promise.resolve();
    }
    state.hostsBusy = true;
    state.hostsAgain = false;
    return api('GET', '/api/hosts').then(function (list) {
      state.hosts = Array.isArray(list) ? list : [];
      state.hostsAt = new Date();
      setAlert('hosts-error', '');
      document.body.setAttribute('data-hosts-loaded', 'true');
      renderHosts();
    }, function (err) {
      if (!isQuiet(err)) setAlert('hosts-error', errorText(err));
    }).then(function () {
      state.hostsBusy = false;
      if (state.hostsAgain && state.token) loadHosts();
    });
  }

  function hostMatches(h, q) {
    if (!q) return true;
    var hay = [h.name, h.id, h.hostname, h.status, h.os, h.arch, h.agentVersion];
    var labels = h.labels || {};
    for (var k in labels) {
      if (Object.prototype.hasOwnProperty.call(labels, k)) hay.push(k + '=' + labels[k]);
    }
    return hay.join('\n').toLowerCase().indexOf(q) !== -1;
  }

  function statusBadge(status) {
    var known = status === 'online' || status === 'offline' || status === 'pending';
    var s = known ? status : 'unknown';
    return el('span', {
      className: 'badge badge-' + s, 'data-testid': 'status-badge', 'data-status': String(status || ''),
      text: t('status.' + s)
    });
  }

  function labelChips(labels) {
    var keys = Object.keys(labels || {}).sort();
    if (!keys.length) return null;
    return el('span', { className: 'chips' }, keys.map(function (k) {
      return el('span', { className: 'chip', 'data-testid': 'label-chip', text: k + '=' + labels[k] });
    }));
  }

  // kindChip marks a box (it runs only its owner's instances) and a worker
  // of a pool other than the shared one.
  function kindChip(h) {
    var text = '';
    if (h.kind === 'box') text = t('hosts.kind.box');
    else if (h.pool && h.pool !== 'shared') text = t('hosts.pool', { pool: h.pool });
    if (!text) return null;
    return el('span', { className: 'chips' }, [el('span', { className: 'chip', 'data-testid': 'host-kind', 'data-kind': String(h.kind || ''), text: text })]);
  }

  // sharedWarning: two devices use the host's credentials.
  function sharedWarning(h) {
    if (!h.credentialsSharedAt) return null;
    var at = new Date(h.credentialsSharedAt);
    return el('div', { className: 'host-warning', role: 'alert', 'data-testid': 'host-credentials-shared' }, [
      el('strong', { text: t('hosts.credentialsShared') }),
      el('div', { className: 'small', text: t('hosts.credentialsSharedHint', { at: isNaN(at) ? String(h.credentialsSharedAt) : at.toLocaleString() }) })
    ]);
  }

  function cell(labelKey, children, cls) {
    return el('td', { 'data-label': t(labelKey), className: cls || null }, children);
  }

  function hostRow(h) {
    var m = h.metrics || {};
    var online = h.status === 'online';
    var name = h.name || h.hostname || h.id;

    var nameCell = cell('hosts.col.name', [
      el('div', { className: 'host-name', 'data-testid': 'host-name', text: name }),
      el('div', { className: 'host-id mono', 'data-testid': 'host-id', title: String(h.id), text: String(h.id) }),
      h.hostname && h.hostname !== name ? el('div', { className: 'muted small', 'data-testid': 'host-hostname', text: h.hostname }) : null,
      kindChip(h),
      sharedWarning(h),
      labelChips(h.labels)
    ], 'col-name');

    var platform = [h.os, h.arch].filter(Boolean).join('/');
    var memTotal = m.memTotalBytes || h.memTotalBytes || 0;
    var hasMetrics = online || !!m.memTotalBytes || !!m.diskTotalBytes;

    var cpuCell;
    if (hasMetrics) {
      var cpu = Number(m.cpuPercent) || 0;
      cpuCell = [el('span', { className: 'cell-stack' }, [
        meter(cpu, cpu.toFixed(1) + ' %'),
        h.cpus ? el('span', { className: 'muted small', text: t('hosts.cpus', { n: h.cpus }) }) : null
      ])];
    } else {
      cpuCell = [el('span', { className: 'muted', text: t('common.none') })];
    }

    function usage(used, total) {
      var p = hasMetrics ? pct(used, total) : null;
      if (p === null) {
        if (total) return [el('span', { className: 'muted', text: t('common.none') + ' / ' + fmtBytes(total) })];
        return [el('span', { className: 'muted', text: t('common.none') })];
      }
      return [meter(p, fmtBytes(used) + ' / ' + fmtBytes(total))];
    }

    var del = el('button', {
      type: 'button', className: 'btn btn-sm btn-danger-ghost', 'data-testid': 'delete-host',
      'data-host-id': String(h.id), text: t('hosts.delete'),
      'aria-label': t('hosts.delete') + ' ' + name
    });
    del.addEventListener('click', function () { confirmDeleteHost(h); });

    return el('tr', {
      'data-testid': 'host-row', 'data-host-id': String(h.id), 'data-host-name': String(name),
      'data-status': String(h.status || ''),
      // an offline host shows its last known metrics, dimmed
      className: !online && hasMetrics ? 'stale' : null
    }, [
      nameCell,
      cell('hosts.col.status', [statusBadge(h.status)]),
      cell('hosts.col.lastHeartbeat', [timeNode(h.lastHeartbeat)], 'nowrap'),
      cell('hosts.col.agent', [el('span', { className: h.agentVersion ? 'mono' : 'muted', text: h.agentVersion || t('common.none') })]),
      cell('hosts.col.platform', [el('span', { className: platform ? '' : 'muted', text: platform || t('common.none') })]),
      cell('hosts.col.cpu', cpuCell, 'num'),
      cell('hosts.col.memory', usage(m.memUsedBytes || 0, memTotal)),
      cell('hosts.col.disk', usage(m.diskUsedBytes || 0, m.diskTotalBytes || 0)),
      cell('hosts.col.load', [el('span', { className: hasMetrics ? 'mono' : 'muted', text: hasMetrics ? (Number(m.load1) || 0).toFixed(2) : t('common.none') })], 'num'),
      cell('hosts.col.tenants', hostLoad(h)),
      el('td', { className: 'actions' }, [del])
    ]);
  }

  // fmtCores writes millicores as CPUs: 500 → 0.5, 16000 → 16.
  function fmtCores(millis) {
    return String(Math.round((Number(millis) || 0) / 10) / 100);
  }

  // hostLoad shows what tenants reserve of a host's capacity for tenants
  // (fields present only when the cloud runs the tenant service).
  function hostLoad(h) {
    var cap = h.capacity;
    var n = Number(h.tenants) || 0;
    if (!cap || (!cap.cpuMillis && !cap.memoryBytes && !n)) return [el('span', { className: 'muted', text: t('common.none') })];
    var res = h.reserved || {};
    return [el('span', { className: 'host-load', 'data-testid': 'host-tenants', 'data-tenants': String(n), title: t('hosts.capacityTitle') }, [
      el('span', { className: 'small', 'data-testid': 'host-tenant-count', text: n === 1 ? t('hosts.tenantCount.one') : t('hosts.tenantCount', { n: n }) }),
      meter(pct(res.cpuMillis || 0, cap.cpuMillis) || 0, t('hosts.reservedCPU', { used: fmtCores(res.cpuMillis), total: fmtCores(cap.cpuMillis) })),
      meter(pct(res.memoryBytes || 0, cap.memoryBytes) || 0, t('hosts.reservedMem', { used: fmtBytes(res.memoryBytes), total: fmtBytes(cap.memoryBytes) }))
    ])];
  }

  function renderHosts() {
    var tbody = $('hosts-tbody');
    var list = state.hosts;
    show('hosts-loading', list === null);
    if (list === null) return;

    var counts = { online: 0, offline: 0, pending: 0 };
    list.forEach(function (h) { if (counts[h.status] !== undefined) counts[h.status]++; });
    $('count-total').textContent = String(list.length);
    $('count-online').textContent = String(counts.online);
    $('count-offline').textContent = String(counts.offline);
    $('count-pending').textContent = String(counts.pending);
    $('hosts-updated').textContent = state.hostsAt ? t('common.updated', { time: state.hostsAt.toLocaleTimeString(state.lang) }) : '';

    var q = $('hosts-filter').value.trim().toLowerCase();
    var rows = list.filter(function (h) { return hostMatches(h, q); }).sort(function (a, b) {
      return String(a.name || a.id).localeCompare(String(b.name || b.id), state.lang) || String(a.id).localeCompare(String(b.id));
    });
    clear(tbody);
    rows.forEach(function (h) { tbody.appendChild(hostRow(h)); });

    var empty = list.length === 0;
    show('hosts-empty', empty);
    show('hosts-nomatch', !empty && rows.length === 0);
    show('hosts-table', rows.length > 0);
    // The cloud's URL as hosts reach it (its public URL), not the browser's.
    $('hosts-empty-command').textContent = 'curl -fsSL ' + (state.cloudUrl || location.origin) + '/install.sh | sudo sh -s -- --token cfe_…';
    if (empty && !state.cloudUrl && !state.cloudUrlAsked) {
      state.cloudUrlAsked = true;
      api('GET', '/api/admin/settings').then(function (s) {
        if (s && s.cloudUrl) { state.cloudUrl = s.cloudUrl; renderHosts(); }
      }, function () {});
    }
  }

  function confirmDeleteHost(h) {
    var name = h.name || h.hostname || h.id;
    confirmDialog(t('hosts.deleteTitle'), t('hosts.deleteConfirm', { name: name, id: h.id }), t('hosts.delete')).then(function (ok) {
      if (!ok) return;
      api('DELETE', '/api/hosts/' + encodeURIComponent(h.id)).then(function () {
        toast(t('hosts.deleted', { name: name }));
      }, function (err) {
        if (!isQuiet(err)) setAlert('hosts-error', errorText(err));
      }).then(function () {
        if (state.token) loadHosts();
      });
    });
  }


  // --------------------------------------------------------- tenants --

  var TENANT_STATUSES = ['pending', 'starting', 'running', 'stopped', 'failed', 'deleting'];

  // loadTenants fetches the tenants and, for their hosts' names, the hosts;
  // like loadHosts, a call while one is in flight makes it run again.
  function loadTenants() {
    if (state.tenantsBusy) {
      state.tenantsAgain = true;
      return Promise.resolve();
    }
    state.tenantsBusy = true;
    state.tenantsAgain = false;
    if (state.tenants === null) show('tenants-loading', true);
    var hosts = api('GET', '/api/hosts').then(function (list) {
      state.hosts = Array.isArray(list) ? list : [];
      state.hostsAt = new Date();
      renderHosts();
    }, function () { /* host names fall back to ids */ });
    return Promise.all([api('GET', '/api/admin/tenants'), hosts]).then(function (res) {
      state.tenants = Array.isArray(res[0]) ? res[0] : [];
      state.tenantsAt = new Date();
      setAlert('tenants-error', '');
      document.body.setAttribute('data-tenants-loaded', 'true');
      renderTenants();
    }, function (err) {
      if (!isQuiet(err)) setAlert('tenants-error', errorText(err));
    }).then(function () {
      state.tenantsBusy = false;
      show('tenants-loading', false);
      if (state.pendingLogs && state.tenants !== null && state.token) {
        var id = state.pendingLogs;
        state.pendingLogs = null;
        openLogs(state.tenants.filter(function (x) { return x.id === id; })[0] || { id: id });
      }
      if (state.tenantsAgain && state.token) loadTenants();
    });
  }

  function hostsByID() {
    var m = {};
    (state.hosts || []).forEach(function (h) { m[h.id] = h; });
    return m;
  }

  function hostLabel(id) {
    var h = hostsByID()[id];
    return h ? String(h.name || h.hostname || h.id) : String(id || '');
  }

  function tenantBadge(status) {
    var s = TENANT_STATUSES.indexOf(status) >= 0 ? status : 'unknown';
    return el('span', {
      className: 'badge badge-tenant-' + s, 'data-testid': 'tenant-status', 'data-status': String(status || ''),
      text: s === 'unknown' ? t('status.unknown') : t('tenants.status.' + s)
    });
  }

  // safeURL lets only http(s) addresses become links.
  function safeURL(u) {
    u = String(u || '');
    return /^https?:\/\/[^\s]+$/i.test(u) ? u : '';
  }

  function rowButton(testid, labelKey, tn, cls, onClick) {
    var b = el('button', {
      type: 'button', className: 'btn btn-sm' + (cls ? ' ' + cls : ''), 'data-testid': testid,
      'data-tenant-id': String(tn.id), text: t(labelKey), 'aria-label': t(labelKey) + ' ' + String(tn.slug || tn.id)
    });
    b.addEventListener('click', onClick);
    return b;
  }

  // lines keeps a cell's lines together (one flex item in the narrow layout).
  function lines(children) {
    return [el('div', { className: 'cell-lines' }, children)];
  }

  function tenantRow(tn, hosts) {
    var id = String(tn.id);
    var res = tn.resources || {};
    var h = hosts[tn.hostId];
    var hostName = h ? String(h.name || h.hostname || h.id) : '';
    var url = safeURL(tn.url);
    var deleting = tn.status === 'deleting';
    var none = function () { return el('span', { className: 'muted', text: t('common.none') }); };

    var restart = rowButton('restart-tenant', 'tenants.restart', tn, '', function () { confirmRestartTenant(tn); });
    var del = rowButton('delete-tenant', 'tenants.delete', tn, 'btn-danger-ghost', function () { confirmDeleteTenant(tn); });
    restart.disabled = deleting;
    del.disabled = deleting;
    var logs = rowButton('logs-tenant', 'tenants.logs', tn, '', function () { openLogs(tn); });
    var open = rowButton('open-tenant', 'tenants.open', tn, '', function () { openGateway(tn); });
    open.title = t('tenants.openTitle');
    open.disabled = deleting || tn.status !== 'running';
    var signout = rowButton('signout-tenant', 'tenants.signOut', tn, '', function () { confirmSignOut(tn); });
    signout.title = t('tenants.signOutTitle');
    signout.disabled = deleting;

    return el('tr', {
      'data-testid': 'tenant-row', 'data-tenant-id': id, 'data-status': String(tn.status || ''),
      className: state.logs && state.logs.id === id ? 'selected' : null
    }, [
      cell('tenants.col.tenant', [
        el('div', { className: 'host-name', 'data-testid': 'tenant-slug', text: String(tn.slug || id) }),
        tn.name ? el('div', { className: 'muted small', 'data-testid': 'tenant-display-name', text: String(tn.name) }) : null,
        el('div', { className: 'host-id mono', 'data-testid': 'tenant-id', title: id, text: id })
      ], 'col-name'),
      cell('tenants.col.owner', lines([
        el('div', { className: 'mono', 'data-testid': 'tenant-owner-id', text: String(tn.ownerId || '') }),
        tn.ownerEmail ? el('div', { className: 'muted small owner-email', 'data-testid': 'tenant-owner-email', text: String(tn.ownerEmail) }) : null
      ])),
      cell('tenants.col.plan', lines([
        el('div', { 'data-testid': 'tenant-plan-name', text: String(tn.plan || t('common.none')) }),
        el('div', {
          className: 'muted small nowrap', 'data-testid': 'tenant-resources',
          title: t('tenants.resourcesTitle', { cpu: res.cpuMillis || 0, mem: fmtBytes(res.memoryBytes), disk: fmtBytes(res.diskBytes), pids: res.pidsLimit || 0 }),
          text: t('tenants.resources', { cpu: res.cpuMillis || 0, mem: fmtBytes(res.memoryBytes) })
        }),
        tn.disk ? el('div', {
          className: 'muted small nowrap', 'data-testid': 'tenant-disk',
          'data-used': String(tn.disk.usedBytes || 0), 'data-total': String(tn.disk.totalBytes || 0),
          title: t('tenants.diskTitle', { time: String(tn.disk.measuredAt || '') }),
          // Out of the plan's size, as the plan and the resources read (the
          // filesystem's own total, a few percent less, is data-total).
          text: t('tenants.disk', { used: fmtBytes(tn.disk.usedBytes), total: fmtBytes(res.diskBytes || tn.disk.totalBytes) })
        }) : null
      ])),
      cell('tenants.col.status', lines([
        tenantBadge(tn.status),
        tn.lastError ? el('div', { className: 'tenant-error', 'data-testid': 'tenant-last-error', text: String(tn.lastError) }) : null
      ])),
      cell('tenants.col.host', lines([
        hostName ? el('div', { 'data-testid': 'tenant-host-name', text: hostName }) : null,
        tn.hostId ? el('div', { className: 'host-id mono', 'data-testid': 'tenant-host-id', title: String(tn.hostId), text: String(tn.hostId) }) : none()
      ])),
      cell('tenants.col.port', [el('span', { className: 'mono', 'data-testid': 'tenant-port', text: tn.port ? String(tn.port) : t('common.none') })], 'num'),
      cell('tenants.col.url', [url ? el('a', {
        href: url, target: '_blank', rel: 'noopener noreferrer', className: 'tenant-url mono small', 'data-testid': 'tenant-url', title: url,
        text: url.replace(/^https?:\/\//i, '').replace(/\/$/, '') // the address bar's way
      }) : none()]),
      cell('tenants.col.restarts', [el('span', { className: 'mono', 'data-testid': 'tenant-restart-gen', text: String(tn.restartGen || 0) })], 'num'),
      cell('tenants.col.created', [timeNode(tn.createdAt, 'common.none')], 'nowrap'),
      el('td', { className: 'actions' }, [el('span', { className: 'row-actions' }, [open, signout, logs, restart, del])])
    ]);
  }

  function renderTenants() {
    var list = state.tenants;
    if (list === null) return;
    var counts = { running: 0, starting: 0, failed: 0 };
    list.forEach(function (tn) {
      if (tn.status === 'running') counts.running++;
      else if (tn.status === 'pending' || tn.status === 'starting') counts.starting++;
      else if (tn.status === 'failed' || tn.status === 'stopped') counts.failed++;
    });
    $('tenants-count-total').textContent = String(list.length);
    $('tenants-count-running').textContent = String(counts.running);
    $('tenants-count-starting').textContent = String(counts.starting);
    $('tenants-count-failed').textContent = String(counts.failed);
    $('tenants-updated').textContent = state.tenantsAt ? t('common.updated', { time: state.tenantsAt.toLocaleTimeString(state.lang) }) : '';

    var hosts = hostsByID();
    var tbody = $('tenants-tbody');
    clear(tbody);
    list.slice().sort(function (a, b) {
      return String(b.createdAt).localeCompare(String(a.createdAt)) || String(a.id).localeCompare(String(b.id));
    }).forEach(function (tn) { tbody.appendChild(tenantRow(tn, hosts)); });
    show('tenants-empty', list.length === 0);
    show('tenants-table', list.length > 0);
  }

  function onCreateTenant(ev) {
    ev.preventDefault();
    setAlert('tenant-error', '');
    var owner = $('tenant-owner').value.trim();
    var email = $('tenant-email').value.trim();
    var name = $('tenant-name').value.trim();
    if (!owner) {
      setAlert('tenant-error', t('err.owner'));
      $('tenant-owner').focus();
      return;
    }
    if (email && !/^[^@\s]+@[^@\s]+$/.test(email)) {
      setAlert('tenant-error', t('err.email'));
      $('tenant-email').focus();
      return;
    }
    var body = { ownerId: owner, plan: $('tenant-plan').value, name: name };
    if (email) body.ownerEmail = email;
    var btn = $('tenant-create');
    btn.disabled = true;
    btn.textContent = t('tenants.create.busy');
    api('POST', '/api/admin/tenants', body).then(function (tn) {
      toast(t('tenants.created', { slug: String(tn && tn.slug || ''), host: hostLabel(tn && tn.hostId) }));
      $('tenant-owner').value = '';
      $('tenant-email').value = '';
      $('tenant-name').value = '';
      loadTenants();
    }, function (err) {
      if (isQuiet(err)) return;
      if (err.code === 'conflict' && err.data && err.data.tenantId) {
        setAlert('tenant-error', t('tenants.create.exists', { id: String(err.data.tenantId) }));
      } else {
        setAlert('tenant-error', errorText(err));
      }
    }).then(function () {
      btn.disabled = false;
      btn.textContent = t('tenants.create.submit');
    });
  }

  function tenantPath(tn) {
    return '/api/admin/tenants/' + encodeURIComponent(String(tn.id));
  }

  // openGateway opens the tenant's Control UI in a new tab through a
  // one-time link for its owner. The tab is opened on the click itself (so
  // popup blockers allow it) and sent to the link once the API answers.
  function openGateway(tn) {
    var w = window.open('about:blank', '_blank');
    if (w) w.opener = null;
    api('POST', tenantPath(tn) + '/access').then(function (res) {
      var url = safeURL(res && res.url);
      if (!url) throw new Error('no link');
      if (w) w.location.href = url; else window.location.href = url;
    }).catch(function (err) {
      if (w) w.close();
      if (!isQuiet(err)) setAlert('tenants-error', errorText(err));
    });
  }

  // confirmSignOut ends every session into the tenant's gateway (a leaked
  // cookie, a shared computer) after asking.
  function confirmSignOut(tn) {
    var slug = String(tn.slug || tn.id);
    confirmDialog(t('tenants.signOutTitle'), t('tenants.signOutConfirm', { slug: slug, owner: String(tn.ownerId || '') }), t('tenants.signOut')).then(function (ok) {
      if (!ok) return;
      api('DELETE', tenantPath(tn) + '/sessions').then(function (res) {
        toast(t('tenants.signedOut', { slug: slug, n: String((res && res.closedConnections) || 0) }));
      }, function (err) {
        if (!isQuiet(err)) setAlert('tenants-error', errorText(err));
      });
    });
  }

  function confirmRestartTenant(tn) {
    var slug = String(tn.slug || tn.id);
    confirmDialog(t('tenants.restartTitle'), t('tenants.restartConfirm', { slug: slug, owner: String(tn.ownerId || '') }), t('tenants.restart')).then(function (ok) {
      if (!ok) return;
      api('POST', tenantPath(tn) + '/restart').then(function () {
        toast(t('tenants.restarted', { slug: slug }));
      }, function (err) {
        if (!isQuiet(err)) setAlert('tenants-error', errorText(err));
      }).then(function () {
        if (state.token) loadTenants();
      });
    });
  }

  function confirmDeleteTenant(tn) {
    var slug = String(tn.slug || tn.id);
    var msg = t('tenants.deleteConfirm', { slug: slug, owner: String(tn.ownerId || ''), host: hostLabel(tn.hostId) });
    confirmDialog(t('tenants.deleteTitle'), msg, t('tenants.delete'), t('tenants.keepData')).then(function (res) {
      if (!res) return;
      var keep = !!res.checked;
      api('DELETE', tenantPath(tn) + (keep ? '?keepData=1' : '')).then(function () {
        toast(keep ? t('tenants.deletedKept', { slug: slug }) : t('tenants.deleted', { slug: slug }));
        if (state.logs && state.logs.id === String(tn.id)) closeLogs();
      }, function (err) {
        if (!isQuiet(err)) setAlert('tenants-error', errorText(err));
      }).then(function () {
        if (state.token) loadTenants();
      });
    });
  }

  // ------------------------------------------------------------ logs --

  function markSelected() {
    each('[data-testid="tenant-row"]', function (tr) {
      tr.classList.toggle('selected', !!state.logs && tr.getAttribute('data-tenant-id') === state.logs.id);
    });
  }

  function openLogs(tn) {
    var id = String(tn.id);
    if (!state.logs || state.logs.id !== id) {
      state.logsLines = null;
      state.logsAt = null;
    }
    state.logs = { id: id, slug: String(tn.slug || id) };
    var panel = $('logs-panel');
    panel.setAttribute('data-tenant-id', id);
    $('logs-slug').textContent = state.logs.slug;
    show(panel, true);
    markSelected();
    loadLogs();
    try { panel.scrollIntoView({ block: 'nearest' }); } catch (e) { /* ignore */ }
  }

  function closeLogs() {
    state.logs = null;
    state.logsLines = null;
    state.logsState = '';
    state.logsAt = null;
    state.logsSeq++;
    var panel = $('logs-panel');
    panel.removeAttribute('data-tenant-id');
    panel.removeAttribute('data-state');
    panel.removeAttribute('data-lines');
    $('logs-slug').textContent = '';
    $('logs-updated').textContent = '';
    $('logs-pre').textContent = '';
    $('logs-refresh').disabled = false;
    setAlert('logs-error', '');
    show(panel, false);
    markSelected();
  }

  // loadLogs asks the tenant's host for its last 200 lines; a failed
  // refresh keeps the lines shown before.
  function loadLogs() {
    if (!state.logs) return;
    var seq = ++state.logsSeq;
    state.logsState = 'loading';
    setAlert('logs-error', '');
    $('logs-refresh').disabled = true;
    renderLogs();
    api('GET', '/api/admin/tenants/' + encodeURIComponent(state.logs.id) + '/logs?tail=200').then(function (res) {
      if (seq !== state.logsSeq) return;
      state.logsLines = res && Array.isArray(res.lines) ? res.lines.map(String) : [];
      state.logsState = 'loaded';
      state.logsAt = new Date();
    }, function (err) {
      if (seq !== state.logsSeq) return;
      state.logsState = 'error';
      if (!isQuiet(err)) setAlert('logs-error', errorText(err));
    }).then(function () {
      if (seq !== state.logsSeq) return;
      $('logs-refresh').disabled = false;
      renderLogs();
      var pre = $('logs-pre');
      pre.scrollTop = pre.scrollHeight;
    });
  }

  function renderLogs() {
    if (!state.logs) return;
    var panel = $('logs-panel');
    var pre = $('logs-pre');
    var lines = state.logsLines;
    panel.setAttribute('data-state', state.logsState);
    panel.setAttribute('data-lines', lines ? String(lines.length) : '');
    $('logs-updated').textContent = state.logsAt ? t('common.updated', { time: state.logsAt.toLocaleTimeString(state.lang) }) : '';
    if (lines && lines.length) {
      pre.textContent = lines.join('\n'); // text only: log lines are never HTML
      pre.removeAttribute('data-empty');
      return;
    }
    pre.setAttribute('data-empty', 'true');
    if (lines) pre.textContent = t('tenants.logs.empty');
    else pre.textContent = state.logsState === 'loading' ? t('tenants.logs.loading') : '';
  }

  // ---------------------------------------------------------- tokens --

  function loadTokens() {
    if (state.tokens === null) show('tokens-loading', true);
    return api('GET', '/api/admin/enrollment-tokens').then(function (list) {
      state.tokens = Array.isArray(list) ? list : [];
      setAlert('tokens-error', '');
      renderTokens();
    }, function (err) {
      if (!isQuiet(err)) setAlert('tokens-error', errorText(err));
    }).then(function () { show('tokens-loading', false); });
  }

  function tokenState(tk) {
    if (tk.revokedAt) return 'revoked';
    if (tk.expired) return 'expired';
    if (tk.usesLeft <= 0) return 'usedUp';
    return 'active';
  }

  function tokenRow(tk) {
    var st = tokenState(tk);
    var actions = el('td', { className: 'actions' });
    if (st !== 'revoked') {
      var b = el('button', {
        type: 'button', className: 'btn btn-sm btn-danger-ghost', 'data-testid': 'revoke-token',
        'data-token-id': String(tk.id), text: t('tokens.revoke')
      });
      b.addEventListener('click', function () { confirmRevokeToken(tk); });
      actions.appendChild(b);
    }
    var expires = parseTime(tk.expiresAt);
    return el('tr', { 'data-testid': 'token-row', 'data-token-id': String(tk.id), 'data-state': st }, [
      cell('tokens.col.id', [el('span', { className: 'mono', text: String(tk.id) })]),
      cell('tokens.col.status', [el('span', { className: 'badge badge-token-' + st, 'data-testid': 'token-status', 'data-state': st, text: t('tokens.state.' + st) })]),
      cell('tokens.col.usesLeft', [el('span', { 'data-testid': 'token-uses-left', text: t('tokens.usesOf', { left: tk.usesLeft, total: tk.uses }) })], 'num'),
      cell('tokens.col.expires', [expires ? el('time', { datetime: expires.toISOString(), title: fmtAbs(expires), 'data-testid': 'token-expires', text: rel(expires) }) : el('span', { className: 'muted', text: t('common.none') })], 'nowrap'),
      cell('tokens.col.labels', [labelChips(tk.labels) || el('span', { className: 'muted', text: t('common.none') })]),
      cell('tokens.col.created', [timeNode(tk.createdAt, 'common.none')], 'nowrap'),
      cell('tokens.col.lastUsed', [timeNode(tk.lastUsedAt)], 'nowrap'),
      actions
    ]);
  }

  function renderTokens() {
    var list = state.tokens;
    var tbody = $('tokens-tbody');
    clear(tbody);
    if (list === null) return;
    list.slice().sort(function (a, b) {
      return String(b.createdAt).localeCompare(String(a.createdAt));
    }).forEach(function (tk) { tbody.appendChild(tokenRow(tk)); });
    show('tokens-empty', list.length === 0);
    show('tokens-table', list.length > 0);
  }

  function parseLabels(s) {
    var out = {};
    var parts = s.split(/[,，]/);
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i].trim();
      if (!p) continue;
      var eq = p.indexOf('=');
      if (eq <= 0) throw new Error(t('err.labels', { part: p }));
      var k = p.slice(0, eq).trim();
      var v = p.slice(eq + 1).trim();
      if (!k) throw new Error(t('err.labels', { part: p }));
      if (Object.prototype.hasOwnProperty.call(out, k)) throw new Error(t('err.labelsDup', { key: k }));
      out[k] = v;
    }
    return out;
  }

  function onCreateToken(ev) {
    ev.preventDefault();
    setAlert('token-error', '');
    var ttl = $('token-ttl').value.trim();
    var usesRaw = $('token-uses').value.trim();
    var uses = Number(usesRaw);
    var labels;
    if (!ttl) { setAlert('token-error', t('err.ttl')); return; }
    if (!/^\d+$/.test(usesRaw) || uses < 1 || uses > 100000) { setAlert('token-error', t('err.uses')); return; }
    try {
      labels = parseLabels($('token-labels').value);
    } catch (e) {
      setAlert('token-error', e.message);
      return;
    }
    var btn = $('token-create');
    btn.disabled = true;
    btn.textContent = t('tokens.create.busy');
    api('POST', '/api/admin/enrollment-tokens', { ttl: ttl, uses: uses, labels: labels }).then(function (res) {
      showNewToken(res);
      $('token-labels').value = '';
      loadTokens();
    }, function (err) {
      if (!isQuiet(err)) setAlert('token-error', errorText(err));
    }).then(function () {
      btn.disabled = false;
      btn.textContent = t('tokens.create.submit');
    });
  }

  function showNewToken(res) {
    $('new-token-value').textContent = String(res && res.token || '');
    $('new-token-command').textContent = String(res && (res.installCommand || res.enrollCommand) || '');
    $('new-token-panel').setAttribute('data-token-id', String(res && res.id || ''));
    show('new-token-panel', true);
    $('new-token-panel').scrollIntoView({ block: 'nearest' });
  }

  function hideNewToken() {
    $('new-token-value').textContent = '';
    $('new-token-command').textContent = '';
    $('new-token-panel').removeAttribute('data-token-id');
    show('new-token-panel', false);
  }

  function confirmRevokeToken(tk) {
    confirmDialog(t('tokens.revokeTitle'), t('tokens.revokeConfirm', { id: tk.id }), t('tokens.revoke')).then(function (ok) {
      if (!ok) return;
      api('DELETE', '/api/admin/enrollment-tokens/' + encodeURIComponent(tk.id)).then(function () {
        toast(t('tokens.revoked', { id: tk.id }));
      }, function (err) {
        if (!isQuiet(err)) setAlert('tokens-error', errorText(err));
      }).then(function () {
        if (state.token) loadTokens();
      });
    });
  }

  // --------------------------------------------------------- batches --

  function loadBatches() {
    loadBoxes();
    if (state.batches === null) show('batches-loading', true);
    return api('GET', '/api/admin/batches').then(function (list) {
      state.batches = Array.isArray(list) ? list : [];
      setAlert('batches-error', '');
      renderBatches();
    }, function (err) {
      if (!isQuiet(err)) setAlert('batches-error', errorText(err));
    }).then(function () { show('batches-loading', false); });
  }

  function batchRow(b) {
    var st = b.revokedAt ? 'revoked' : 'active';
    var actions = el('td', { className: 'actions' });
    if (st !== 'revoked') {
      var btn = el('button', {
        type: 'button', className: 'btn btn-sm btn-danger-ghost', 'data-testid': 'revoke-batch',
        'data-batch-id': String(b.id), text: t('batches.revoke')
      });
      btn.addEventListener('click', function () { confirmRevokeBatch(b); });
      actions.appendChild(btn);
    }
    var num = function (key, n) { return cell(key, [el('span', { 'data-testid': 'batch-' + key.split('.').pop(), text: String(n || 0) })], 'num'); };
    return el('tr', { 'data-testid': 'batch-row', 'data-batch-id': String(b.id), 'data-state': st }, [
      cell('batches.col.id', [el('span', { className: 'mono', text: String(b.id) })]),
      cell('batches.col.model', [el('span', { text: String(b.model || '') })]),
      cell('batches.col.status', [el('span', { className: 'badge badge-token-' + st, 'data-testid': 'batch-status', 'data-state': st, text: t('batches.state.' + st) })]),
      num('batches.col.devices', b.devices),
      num('batches.col.online', b.online),
      num('batches.col.pending', b.pending),
      num('batches.col.offline', b.offline),
      num('batches.col.deleted', b.deleted),
      num('batches.col.claimed', b.claimed),
      cell('batches.col.created', [timeNode(b.createdAt, 'common.none')], 'nowrap'),
      actions
    ]);
  }

  function renderBatches() {
    var list = state.batches;
    var tbody = $('batches-tbody');
    clear(tbody);
    if (list === null) return;
    list.forEach(function (b) { tbody.appendChild(batchRow(b)); });
    show('batches-empty', list.length === 0);
    show('batches-table', list.length > 0);
  }

  function confirmRevokeBatch(b) {
    var n = (b.devices || 0) - (b.deleted || 0);
    confirmDialog(t('batches.revokeTitle'), t('batches.revokeConfirm', { id: b.id, n: n }), t('batches.revoke')).then(function (ok) {
      if (!ok) return;
      api('DELETE', '/api/admin/batches/' + encodeURIComponent(b.id)).then(function () {
        toast(t('batches.revoked', { id: b.id }));
      }, function (err) {
        if (!isQuiet(err)) setAlert('batches-error', errorText(err));
      }).then(function () {
        if (state.token) loadBatches();
      });
    });
  }

  // ----------------------------------------------------------- boxes --

  function loadBoxes() {
    return api('GET', '/api/admin/boxes').then(function (list) {
      state.boxes = Array.isArray(list) ? list : [];
      renderBoxes();
    }, function (err) {
      if (!isQuiet(err)) setAlert('batches-error', errorText(err));
    });
  }

  function boxRow(b) {
    var actions = el('td', { className: 'actions' });
    if (b.status !== 'deleted') {
      var reset = el('button', { type: 'button', className: 'btn btn-sm btn-danger-ghost', 'data-testid': 'reset-box', 'data-device-id': String(b.deviceId), text: t('boxes.reset') });
      reset.addEventListener('click', function () { confirmResetBox(b); });
      var reprint = el('button', { type: 'button', className: 'btn btn-sm', 'data-testid': 'reprint-box', 'data-device-id': String(b.deviceId), text: t('boxes.reprint') });
      reprint.addEventListener('click', function () { confirmReprintBox(b); });
      actions.appendChild(reprint);
      actions.appendChild(reset);
    }
    var claim = [el('span', { className: 'badge badge-' + (b.claimed ? 'online' : 'pending'), 'data-testid': 'box-claim', 'data-claimed': b.claimed ? 'true' : 'false', text: t(b.claimed ? 'boxes.claimed' : 'boxes.unclaimed') })];
    if (b.claimState) claim.push(el('div', { className: 'muted small', 'data-testid': 'box-claim-state', text: t('boxes.reports', { state: t('boxes.state.' + b.claimState) }) }));
    var owner = [el('span', { className: b.ownerId ? 'mono' : 'muted', 'data-testid': 'box-owner', text: b.ownerId ? String(b.ownerId) : t('common.none') })];
    if (b.teamId) owner.push(el('div', { className: 'muted small', text: t('boxes.team', { team: String(b.teamId) }) }));
    var status = b.status === 'deleted' ? el('span', { className: 'muted', 'data-testid': 'status-badge', 'data-status': 'deleted', text: t('boxes.deleted') }) : statusBadge(b.status);
    return el('tr', { 'data-testid': 'box-row', 'data-device-id': String(b.deviceId) }, [
      cell('boxes.col.device', [el('span', { className: 'mono', text: String(b.deviceId) })]),
      cell('boxes.col.batch', [el('span', { className: 'mono', text: String(b.batchId) + ' #' + String(b.batchIndex) })]),
      cell('boxes.col.status', [status]),
      cell('boxes.col.claim', claim),
      cell('boxes.col.owner', owner),
      cell('boxes.col.claimedAt', [timeNode(b.claimedAt, 'common.none')], 'nowrap'),
      actions
    ]);
  }

  function renderBoxes() {
    var list = state.boxes;
    var tbody = $('boxes-tbody');
    clear(tbody);
    if (list === null) return;
    list.forEach(function (b) { tbody.appendChild(boxRow(b)); });
    show('boxes-empty', list.length === 0);
    show('boxes-table', list.length > 0);
  }

  function confirmResetBox(b) {
    confirmDialog(t('boxes.resetTitle'), t('boxes.resetConfirm', { id: b.deviceId }), t('boxes.reset'), t('boxes.resetFresh')).then(function (ok) {
      if (!ok) return;
      api('POST', '/api/admin/boxes/' + encodeURIComponent(b.deviceId) + '/reset', { freshCode: !!ok.checked }).then(function (res) {
        toast(t('boxes.resetDone', { id: b.deviceId }));
        if (res && res.claimCode) showBoxCode(res);
      }, function (err) {
        if (!isQuiet(err)) setAlert('batches-error', errorText(err));
      }).then(function () { if (state.token) loadBatches(); });
    });
  }

  function confirmReprintBox(b) {
    confirmDialog(t('boxes.reprintTitle'), t('boxes.reprintConfirm', { id: b.deviceId }), t('boxes.reprint')).then(function (ok) {
      if (!ok) return;
      api('POST', '/api/admin/boxes/' + encodeURIComponent(b.deviceId) + '/reprint').then(function (res) {
        showBoxCode(res);
      }, function (err) {
        if (!isQuiet(err)) setAlert('batches-error', errorText(err));
      }).then(function () { if (state.token) loadBoxes(); });
    });
  }

  // showBoxCode shows a new claim code with its label, the only time the
  // cloud has them.
  function showBoxCode(res) {
    var id = String(res && res.box && res.box.deviceId || '');
    $('box-code-value').textContent = String(res && res.claimCode || '');
    $('box-code-url').textContent = String(res && res.claimUrl || '');
    var png = res && res.labelPng ? 'data:image/png;base64,' + String(res.labelPng).replace(/[^A-Za-z0-9+\/=]/g, '') : '';
    var img = $('box-code-label');
    var link = $('box-code-download');
    if (png) {
      img.src = png;
      img.alt = t('boxes.code.download');
      link.href = png;
      link.setAttribute('download', 'label-' + id.replace(/[^a-z0-9_]/g, '') + '.png');
    }
    show('box-code-label', !!png);
    show('box-code-download', !!png);
    $('box-code-panel').setAttribute('data-device-id', id);
    show('box-code-panel', true);
    $('box-code-panel').scrollIntoView({ block: 'nearest' });
  }

  function hideBoxCode() {
    $('box-code-value').textContent = '';
    $('box-code-url').textContent = '';
    $('box-code-label').removeAttribute('src');
    $('box-code-download').removeAttribute('href');
    $('box-code-panel').removeAttribute('data-device-id');
    show('box-code-panel', false);
  }

  // -------------------------------------------------------- settings --

  function loadSettings() {
    setAlert('settings-error', '');
    return api('GET', '/api/admin/settings').then(function (s) {
      $('heartbeat-input').value = String(s && s.heartbeatInterval || '');
    }, function (err) {
      if (!isQuiet(err)) setAlert('settings-error', errorText(err));
    });
  }

  function onSaveSettings(ev) {
    ev.preventDefault();
    setAlert('settings-error', '');
    setAlert('settings-status', '');
    var v = $('heartbeat-input').value.trim();
    if (!v) { setAlert('settings-error', t('err.heartbeat')); return; }
    var btn = $('settings-save');
    btn.disabled = true;
    btn.textContent = t('common.saving');
    api('PUT', '/api/admin/settings', { heartbeatInterval: v }).then(function (s) {
      var nv = String(s && s.heartbeatInterval || v);
      $('heartbeat-input').value = nv;
      setAlert('settings-status', t('settings.saved', { value: nv }));
    }, function (err) {
      if (!isQuiet(err)) setAlert('settings-error', errorText(err));
    }).then(function () {
      btn.disabled = false;
      btn.textContent = t('common.save');
    });
  }

  // ---------------------------------------------------------- dialog --

  // confirmDialog resolves to false when cancelled, else to {checked}: the
  // state of the checkbox labelled checkLabel (shown only when given).
  function confirmDialog(title, message, okLabel, checkLabel) {
    var dlg = $('confirm-dialog');
    if (typeof dlg.showModal !== 'function') {
      return Promise.resolve(window.confirm(title + '\n\n' + message) ? { checked: false } : false);
    }
    $('confirm-title').textContent = title;
    $('confirm-message').textContent = message;
    $('confirm-ok').textContent = okLabel;
    $('confirm-check').checked = false;
    $('confirm-check-label').textContent = checkLabel || '';
    show('confirm-check-row', !!checkLabel);
    dlg.returnValue = '';
    return new Promise(function (resolve) {
      dlg.addEventListener('close', function onClose() {
        dlg.removeEventListener('close', onClose);
        resolve(dlg.returnValue === 'ok' ? { checked: !!checkLabel && $('confirm-check').checked } : false);
      });
      dlg.showModal();
      $('confirm-cancel').focus();
    });
  }

  // ------------------------------------------------------- clipboard --

  // copyText copies text; when the browser refuses, the text is selected
  // (source: the element it came from) so the user can copy it by hand.
  function copyText(text, source) {
    function fallback() {
      var ta = el('textarea', { readonly: true, className: 'offscreen' });
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      return ok;
    }
    var p = (navigator.clipboard && window.isSecureContext)
      ? navigator.clipboard.writeText(text).then(function () { return true; }, fallback)
      : Promise.resolve(fallback());
    p.then(function (ok) {
      if (!ok && source) selectNode(source);
      toast(ok ? t('common.copied') : t('common.copyFailed'));
    });
  }

  function selectNode(node) {
    try {
      var range = document.createRange();
      range.selectNodeContents(node);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    } catch (e) { /* ignore */ }
  }

  // ------------------------------------------------- views and session --

  function selectTab(tab, persist, skipLoad) {
    if (tab !== 'hosts' && tab !== 'tenants' && tab !== 'tokens' && tab !== 'batches' && tab !== 'settings') tab = 'hosts';
    state.tab = tab;
    if (persist) storageSet(sessionStorage, TAB_KEY, tab);
    each('[data-tab]', function (b) {
      var on = b.getAttribute('data-tab') === tab;
      b.classList.toggle('active', on);
      b.setAttribute('aria-selected', on ? 'true' : 'false');
    });
    show('hosts-view', tab === 'hosts');
    show('tenants-view', tab === 'tenants');
    show('tokens-view', tab === 'tokens');
    show('batches-view', tab === 'batches');
    show('settings-view', tab === 'settings');
    document.body.setAttribute('data-tab', tab);
    if (!state.token || skipLoad) return;
    if (tab === 'hosts') loadHosts();
    else if (tab === 'tenants') loadTenants();
    else if (tab === 'tokens') loadTokens();
    else if (tab === 'batches') loadBatches();
    else loadSettings();
  }

  function showLogin(reasonKey) {
    document.body.setAttribute('data-view', 'login');
    show('app-view', false);
    show('logout-button', false);
    show('login-view', true);
    if (reasonKey) {
      document.body.setAttribute('data-auth-error', reasonKey);
      setAlert('login-error', t(reasonKey === 'signedOut' ? 'login.signedOut' : 'err.' + reasonKey));
    } else {
      document.body.removeAttribute('data-auth-error');
      setAlert('login-error', '');
    }
    var input = $('token-input');
    input.value = '';
    try { input.focus(); } catch (e) { /* ignore */ }
  }

  function showApp() {
    document.body.setAttribute('data-view', 'app');
    document.body.removeAttribute('data-auth-error');
    show('login-view', false);
    show('app-view', true);
    show('logout-button', true);
    setAlert('login-error', '');
  }

  function stopPolling() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  function startPolling() {
    stopPolling();
    state.timer = setInterval(function () {
      if (document.hidden) return;
      loadHealth();
      if (!state.token) return;
      if (state.tab === 'hosts') loadHosts();
      else if (state.tab === 'tenants') loadTenants();
      else if (state.tab === 'tokens' && state.tokens) renderTokens(); // keep relative times fresh
      else if (state.tab === 'batches') loadBatches();
    }, REFRESH_MS);
  }

  function resetData() {
    state.hosts = null;
    state.hostsAt = null;
    state.tokens = null;
    state.batches = null;
    state.boxes = null;
    state.hostsBusy = false;
    state.hostsAgain = false;
    state.tenants = null;
    state.tenantsAt = null;
    state.tenantsBusy = false;
    state.tenantsAgain = false;
    document.body.removeAttribute('data-hosts-loaded');
    document.body.removeAttribute('data-tenants-loaded');
    clear($('hosts-tbody'));
    clear($('tenants-tbody'));
    clear($('tokens-tbody'));
    clear($('batches-tbody'));
    clear($('boxes-tbody'));
    hideBoxCode();
    show('tenants-table', false);
    show('tenants-empty', false);
    closeLogs();
    hideNewToken();
    ['hosts-error', 'tenants-error', 'tenant-error', 'tokens-error', 'token-error', 'batches-error', 'settings-error', 'settings-status'].forEach(function (id) { setAlert(id, ''); });
  }

  function signOut(reasonKey) {
    state.session++;
    state.token = null;
    storageSet(sessionStorage, TOKEN_KEY, null);
    stopPolling();
    resetData();
    startPolling(); // health keeps updating on the login screen
    showLogin(reasonKey);
  }

  // signIn checks the token against the API before showing the dashboard.
  function signIn(token, fromForm) {
    state.session++;
    state.token = token;
    resetData();
    var btn = $('login-button');
    if (fromForm) {
      btn.disabled = true;
      btn.textContent = t('login.checking');
    }
    return api('GET', '/api/hosts').then(function (list) {
      storageSet(sessionStorage, TOKEN_KEY, token);
      state.hosts = Array.isArray(list) ? list : [];
      state.hostsAt = new Date();
      document.body.setAttribute('data-hosts-loaded', 'true');
      showApp();
      renderHosts();
      selectTab(state.tab, false, state.tab === 'hosts');
      startPolling();
    }, function (err) {
      if (err.status === 401 || err.code === 'stale') return; // signOut already showed the login form
      state.token = null;
      showLogin(null);
      setAlert('login-error', errorText(err));
      document.body.setAttribute('data-auth-error', err.code || 'error');
    }).then(function () {
      btn.disabled = false;
      btn.textContent = t('login.submit');
    });
  }

  function rerenderAll() {
    renderHealth();
    if (state.hosts !== null) renderHosts();
    if (state.tenants !== null) renderTenants();
    renderLogs();
    if (state.tokens !== null) renderTokens();
    if (state.batches !== null) renderBatches();
    if (state.boxes !== null) renderBoxes();
    var reason = document.body.getAttribute('data-auth-error');
    if (reason && !$('login-view').hidden && I18N.en['err.' + reason]) {
      setAlert('login-error', t('err.' + reason));
    } else if (reason === 'signedOut') {
      setAlert('login-error', t('login.signedOut'));
    }
  }

  // readFragment takes token, lang, tab and logs (a tenant id whose logs to
  // open) from "#token=…&lang=…&tab=…&logs=…" and removes the fragment from
  // the address bar so the token does not linger in history.
  function readFragment() {
    var h = location.hash.replace(/^#/, '');
    if (!h) return {};
    var p;
    try { p = new URLSearchParams(h); } catch (e) { return {}; }
    var out = { token: p.get('token'), lang: p.get('lang'), tab: p.get('tab'), logs: p.get('logs') };
    try {
      history.replaceState(null, '', location.pathname + location.search);
    } catch (e) {
      location.hash = '';
    }
    return out;
  }

  function init() {
    var frag = readFragment();

    var lang = frag.lang || storageGet(localStorage, LANG_KEY) ||
      (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
    state.lang = normLang(lang);
    if (frag.lang) storageSet(localStorage, LANG_KEY, state.lang);
    document.body.setAttribute('data-lang', state.lang);
    applyStaticI18n();
    renderHealth();

    state.tab = frag.tab || (frag.logs ? 'tenants' : '') || storageGet(sessionStorage, TAB_KEY) || 'hosts';
    state.pendingLogs = frag.logs || null;

    $('lang-toggle').addEventListener('click', function () {
      setLang(state.lang === 'zh-CN' ? 'en' : 'zh-CN', true);
    });
    $('logout-button').addEventListener('click', function () { signOut('signedOut'); });
    $('login-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var v = $('token-input').value.trim();
      if (!v) {
        setAlert('login-error', t('login.empty'));
        return;
      }
      signIn(v, true);
    });
    each('[data-tab]', function (b) {
      b.addEventListener('click', function () { selectTab(b.getAttribute('data-tab'), true); });
    });
    $('hosts-refresh').addEventListener('click', function () { loadHosts(); loadHealth(); });
    $('hosts-filter').addEventListener('input', renderHosts);
    $('hosts-empty-go').addEventListener('click', function () {
      selectTab('tokens', true);
      $('token-ttl').focus();
    });
    $('token-form').addEventListener('submit', onCreateToken);
    $('dismiss-new-token').addEventListener('click', hideNewToken);
    $('dismiss-box-code').addEventListener('click', hideBoxCode);
    $('copy-token').addEventListener('click', function () { copyText($('new-token-value').textContent, $('new-token-value')); });
    $('copy-command').addEventListener('click', function () { copyText($('new-token-command').textContent, $('new-token-command')); });
    $('settings-form').addEventListener('submit', onSaveSettings);
    $('tenants-refresh').addEventListener('click', function () { loadTenants(); loadHealth(); });
    $('tenant-form').addEventListener('submit', onCreateTenant);
    $('logs-refresh').addEventListener('click', loadLogs);
    $('logs-close').addEventListener('click', closeLogs);
    document.addEventListener('visibilitychange', function () {
      if (document.hidden || !state.token) return;
      if (state.tab === 'hosts') loadHosts();
      else if (state.tab === 'tenants') loadTenants();
    });

    loadHealth();
    var token = frag.token || storageGet(sessionStorage, TOKEN_KEY);
    if (token) {
      signIn(token.trim(), false);
    } else {
      showLogin(null);
      startPolling();
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
