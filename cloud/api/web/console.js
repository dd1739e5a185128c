/* The user console: sign in, My OpenClaw, teams, account. Served by the
   cloud (no CDN, nothing fetched from elsewhere); no inline script, so the
   page's Content-Security-Policy forbids any. Routes are the fragment:
   #/ (instances), #/logs/<id>, #/teams, #/account, #/signin, #/signup,
   #/reset. Every state-changing request sends X-CSRF-Token (GET /api/me). */
(function () {
  'use strict';

  var I18N = {
    en: {
      'app.title': 'OpenClaw',
      'nav.skip': 'Skip to content',
      'nav.instances': 'My OpenClaw',
      'nav.teams': 'Teams',
      'nav.boxes': 'Boxes',
      'nav.account': 'Account',
      'nav.admin': 'Admin',
      'nav.language': 'Language',
      'nav.signout': 'Sign out',
      'signin.title': 'Sign in',
      'signin.hint': 'Sign in to create and open your OpenClaw.',
      'signin.with': 'Continue with {name}',
      'provider.sso': 'Single sign-on',
      'provider.wechat': 'WeChat',
      'scope.tenants:read': 'See instances and teams, read logs',
      'scope.tenants:write': 'Create, restart and delete instances',
      'scope.tenants:open': 'Open instances',
      'scope.teams:write': 'Rename teams, invite and manage members',
      'level.error': 'ERROR',
      'level.warn': 'WARN',
      'level.info': 'INFO',
      'level.debug': 'DEBUG',
      'level.fatal': 'FATAL',
      'level.trace': 'TRACE',
      'account.on': '{browser} on {os}',
      'signin.or': 'or with your email',
      'signin.email': 'Email',
      'signin.password': 'Password',
      'signin.name': 'Your name',
      'signin.submit': 'Sign in',
      'signin.toSignup': 'No account yet? Sign up',
      'signin.toReset': 'Forgot your password?',
      'signin.toSignin': 'Already have an account? Sign in',
      'signin.none': 'No way to sign in is configured on this cloud. Ask its operator.',
      'signup.title': 'Create an account',
      'signup.hint': 'A verification link is sent to your email.',
      'signup.passwordHint': '15 to 128 characters; a sentence you remember is a good password.',
      'signup.submit': 'Create account',
      'reset.title': 'Reset your password',
      'reset.hint': 'We send a link to set a new password to this email, if it has an account.',
      'reset.submit': 'Send the link',
      'reset.sent': 'If this email has an account, a link to reset its password is on its way.',
      'inst.title': 'My OpenClaw',
      'inst.hint': 'Your OpenClaw gateways: create one, watch it start, open its Control UI.',
      'inst.create': 'Create',
      'inst.createTitle': 'Create an OpenClaw',
      'inst.name': 'Name',
      'inst.namePlaceholder': 'My claw',
      'inst.plan': 'Plan',
      'inst.planLimits': '{cpu} CPU · {mem} memory · {disk} disk',
      'inst.createSubmit': 'Create',
      'inst.cancel': 'Cancel',
      'inst.empty': 'You have no OpenClaw yet.',
      'inst.emptyHint': 'Create one: it starts on a host in about half a minute.',
      'inst.address': 'Address',
      'inst.host': 'Host',
      'inst.hostKind.worker': 'Shared cloud host',
      'inst.hostKind.box': 'Your own box',
      'inst.hostKind.none': 'Waiting for a host',
      'inst.open': 'Open',
      'inst.logs': 'Logs',
      'inst.restart': 'Restart',
      'inst.delete': 'Delete',
      'inst.deleteTitle': 'Delete {name}?',
      'inst.deleteBody': 'Its gateway stops and its data is erased. Type the name {slug} to confirm.',
      'inst.deleteConfirm': 'Delete for good',
      'inst.deleted': '{name} was deleted.',
      'inst.restarted': 'Restarting {name}…',
      'inst.progress.pending': 'Waiting for the host to take it…',
      'inst.progress.starting': 'Starting OpenClaw…',
      'inst.progress.running': 'Running.',
      'inst.usage': 'Usage',
      'inst.disk': 'Disk',
      'inst.cpu': 'CPU',
      'inst.memory': 'Memory',
      'inst.limit': 'limit {v}',
      'inst.usageNote': 'The last 6 hours as the host measures them ({n} points, one a minute at most).',
      'inst.noUsage': 'No usage reported yet: the limits of the plan are shown.',
      'inst.cpuChart': 'CPU, cores, over the last 6 hours',
      'inst.memoryChart': 'Memory over the last 6 hours',
      'inst.diskChart': 'Disk used over the last 6 hours',
      'inst.noDisk': 'not measured yet',
      'inst.live': 'Live',
      'inst.reconnecting': 'Reconnecting…',
      'inst.team': 'Team',
      'status.pending': 'Pending',
      'status.starting': 'Starting',
      'status.running': 'Running',
      'status.stopped': 'Stopped',
      'status.failed': 'Failed',
      'status.deleting': 'Deleting',
      'logs.title': 'Logs of {name}',
      'logs.back': 'Back to My OpenClaw',
      'logs.filter': 'Filter',
      'logs.filterPlaceholder': 'Text to look for',
      'logs.level': 'Level',
      'logs.levelAll': 'All levels',
      'logs.follow': 'Follow new lines',
      'logs.time': 'Time',
      'logs.message': 'Message',
      'logs.empty': 'No log lines yet.',
      'logs.count': '{n} of {total} lines',
      'logs.ended': 'The live stream ended: {reason}',
      'teams.title': 'Teams',
      'teams.hint': 'The teams you belong to and your role in each.',
      'teams.personal': 'Personal',
      'teams.role.owner': 'Owner',
      'teams.role.admin': 'Admin',
      'teams.role.member': 'Member',
      'teams.members': 'Members',
      'teams.invites': 'Invites',
      'teams.newTeam': 'New team',
      'teams.teamName': 'Team name',
      'teams.createTeam': 'Create team',
      'teams.invite': 'Create invite link',
      'teams.inviteRole': 'Role',
      'teams.inviteUses': 'Uses',
      'teams.inviteExpires': 'Expires',
      'teams.inviteLink': 'Send this link to the person you invite (it is shown once):',
      'teams.revoke': 'Revoke',
      'teams.remove': 'Remove',
      'teams.member': 'Member',
      'teams.role': 'Role',
      'teams.unavailable': 'Managing members and invites is not available on this cloud yet.',
      'teams.accept': 'Join the team',
      'teams.you': 'you',
      'teams.roleOf': 'Role of {name}',
      'teams.roleChanged': '{name} is now {role}.',
      'teams.removed': '{name} left the team.',
      'teams.removeTitle': 'Remove {name} from {team}?',
      'teams.leave': 'Leave',
      'teams.actions': 'Actions',
      'teams.keys': 'Team API keys',
      'teams.keysHint': 'Keys act for the team, not for a person: for automation (CI, scripts).',
      'teams.acceptTitle': 'You are invited to a team',
      'teams.accepted': 'You joined {name}.',
      'account.title': 'Account',
      'account.profile': 'Profile',
      'account.email': 'Email',
      'account.verified': 'verified',
      'account.unverified': 'not verified',
      'account.language': 'Language',
      'account.identities': 'Ways to sign in',
      'account.link': 'Link {name}',
      'account.unlink': 'Unlink',
      'account.sessions': 'Sessions',
      'account.current': 'this browser',
      'account.lastUsed': 'Last used',
      'account.signOutOne': 'Sign out',
      'account.signOutAll': 'Sign out everywhere else',
      'account.signedOutAll': 'Signed out of {n} other sessions.',
      'account.keys': 'API keys',
      'account.keysUnavailable': 'API keys are not available on this cloud yet.',
      'account.keyName': 'Key name',
      'account.createKey': 'Create key',
      'account.scopes': 'What it may do',
      'account.keyShown': 'Your new key (shown once; keep it secret):',
      'account.keyExpires': 'Expires after',
      'account.keyExpiry.1': '1 day',
      'account.keyExpiry.30': '30 days',
      'account.keyExpiry.90': '90 days',
      'account.keyExpiry.365': '1 year',
      'account.keyExpiresAt': 'Expires',
      'account.keyLastUsed': 'Last used',
      'account.provider.local': 'Email and password',
      'admin.title': 'Platform admin',
      'admin.hint': 'Users, teams and the audit log of this cloud. Hosts, tenants, enrollment tokens and settings are in the operator dashboard.',
      'admin.dashboard': 'Open the operator dashboard',
      'admin.users': 'Users',
      'admin.teams': 'Teams',
      'admin.audit': 'Audit log',
      'admin.name': 'Name',
      'admin.email': 'Email',
      'admin.created': 'Created',
      'admin.lastSignIn': 'Last sign-in',
      'admin.status': 'Status',
      'admin.actions': 'Actions',
      'admin.isAdmin': 'Platform admin',
      'admin.disabled': 'Disabled',
      'admin.active': 'Active',
      'admin.makeAdmin': 'Make admin',
      'admin.dropAdmin': 'Remove admin',
      'admin.disable': 'Disable',
      'admin.enable': 'Enable',
      'admin.disableTitle': 'Disable {name}? Their sessions and keys stop working until enabled again.',
      'admin.userChanged': '{name} was updated.',
      'admin.search': 'Search',
      'admin.searchUsers': 'Name or email',
      'admin.personal': 'Personal',
      'admin.members': 'Members',
      'admin.tenants': 'Instances',
      'admin.showMembers': 'Members',
      'admin.hideMembers': 'Hide members',
      'admin.id': 'ID',
      'admin.time': 'Time',
      'admin.actor': 'Actor',
      'admin.action': 'Action',
      'admin.target': 'Target',
      'admin.detail': 'Detail',
      'admin.actorHint': 'e.g. user:usr_…, admin',
      'admin.actionHint': 'e.g. tenant.create, or team. for a family',
      'admin.targetHint': 'a tenant, team, user or host id',
      'admin.filter': 'Filter',
      'admin.clear': 'Clear',
      'admin.newest': 'Newest',
      'admin.older': 'Older',
      'admin.page': 'Page {n}',
      'admin.noEvents': 'No events match.',
      'admin.noUsers': 'No users.',
      'admin.notAdmin': 'This page is for platform admins.',
      'boxes.title': 'My boxes',
      'boxes.hint': 'OpenClaw boxes claimed by you or your teams. Each runs its owner\'s OpenClaw at home, reached through the cloud.',
      'boxes.claimTitle': 'Claim a box',
      'boxes.claimHint': 'Scan the label with your phone, or type the device ID and the claim code printed on it.',
      'boxes.device': 'Device ID',
      'boxes.code': 'Claim code',
      'boxes.for': 'For',
      'boxes.personal': 'Me (personal)',
      'boxes.claim': 'Claim',
      'boxes.claimed': '{name} is yours. Its OpenClaw is starting: see My OpenClaw.',
      'boxes.already': '{name} is already yours.',
      'boxes.instanceError': '{name} is yours, but its OpenClaw could not be created yet: {msg}',
      'boxes.empty': 'You have no box yet. Claim one with the code on its label.',
      'boxes.box': 'Box',
      'boxes.status': 'Status',
      'boxes.owner': 'Owner',
      'boxes.instance': 'OpenClaw',
      'boxes.claimedAt': 'Claimed',
      'boxes.lastSeen': 'Last seen {when}',
      'boxes.actions': 'Actions',
      'boxes.state.online': 'Online',
      'boxes.state.offline': 'Offline',
      'boxes.state.pending': 'Never connected',
      'boxes.role.claimer': 'you',
      'boxes.none': 'none yet',
      'boxes.release': 'Release',
      'boxes.releaseTitle': 'Release {name}? Its OpenClaw and all its data on the box are deleted, and whoever holds its label can claim it again.',
      'boxes.released': '{name} was released.',
      'err.wrong_claim_code': 'The claim code does not match this device. Check the label and try again.',
      'err.box_claimed': 'This box already has an owner: ask them to release it, or the operator to reset it.',
      'err.no_box': 'There is no box with this device ID.',
      'err.not_your_box': 'Only the box\'s claimer and the owners and admins of its team may release it.',
      'err.rate_limited': 'Too many attempts: wait a moment and try again.',
      'common.loading': 'Loading…',
      'common.never': 'never',
      'common.close': 'Close',
      'err.network': 'The cloud cannot be reached. Check your connection and retry.',
      'err.csrf_failed': 'Your session changed in another tab. Reload the page and try again.',
      'err.not_signed_in': 'Your session ended. Sign in again.',
      'err.too_many_streams': 'Too many live views are open (other tabs or windows). Close one and retry.',
      'err.no_capacity': 'No host has room for this plan right now. Try a smaller plan or later.',
      'err.invalid_name': 'That name is not valid: at most 64 characters, no control characters.',
      'err.invalid_plan': 'That plan does not exist.',
      'err.forbidden': 'You are not allowed to do that.',
      'err.confirm': 'The name you typed is not {slug}.',
      'err.generic': 'Something went wrong ({code}).'
    },
    'zh-CN': {
      'app.title': 'OpenClaw',
      'nav.skip': '跳到正文',
      'nav.instances': '我的 OpenClaw',
      'nav.teams': '团队',
      'nav.boxes': '盒子',
      'nav.account': '账号',
      'nav.admin': '管理',
      'nav.language': '语言',
      'nav.signout': '退出登录',
      'signin.title': '登录',
      'signin.hint': '登录后即可创建并打开你的 OpenClaw。',
      'signin.with': '使用 {name} 登录',
      'provider.sso': 'SSO',
      'provider.wechat': '微信',
      'scope.tenants:read': '查看实例和团队，读取日志',
      'scope.tenants:write': '创建、重启和删除实例',
      'scope.tenants:open': '打开实例',
      'scope.teams:write': '重命名团队，邀请和管理成员',
      'level.error': '错误',
      'level.warn': '警告',
      'level.info': '信息',
      'level.debug': '调试',
      'level.fatal': '致命',
      'level.trace': '跟踪',
      'account.on': '{os} 上的 {browser}',
      'signin.or': '或使用邮箱',
      'signin.email': '邮箱',
      'signin.password': '密码',
      'signin.name': '你的名字',
      'signin.submit': '登录',
      'signin.toSignup': '还没有账号？注册',
      'signin.toReset': '忘记密码？',
      'signin.toSignin': '已有账号？登录',
      'signin.none': '这个云尚未配置任何登录方式，请联系运营者。',
      'signup.title': '创建账号',
      'signup.hint': '验证链接会发送到你的邮箱。',
      'signup.passwordHint': '15 到 128 个字符；一句你记得住的话就是好密码。',
      'signup.submit': '创建账号',
      'reset.title': '重置密码',
      'reset.hint': '如果这个邮箱有账号，我们会向它发送设置新密码的链接。',
      'reset.submit': '发送链接',
      'reset.sent': '如果这个邮箱有账号，重置密码的链接已经发出。',
      'inst.title': '我的 OpenClaw',
      'inst.hint': '你的 OpenClaw 网关：创建、查看启动进度、打开控制界面。',
      'inst.create': '创建',
      'inst.createTitle': '创建 OpenClaw',
      'inst.name': '名称',
      'inst.namePlaceholder': '我的龙虾',
      'inst.plan': '套餐',
      'inst.planLimits': '{cpu} CPU · {mem} 内存 · {disk} 磁盘',
      'inst.createSubmit': '创建',
      'inst.cancel': '取消',
      'inst.empty': '你还没有 OpenClaw。',
      'inst.emptyHint': '创建一个：大约半分钟后它会在主机上启动。',
      'inst.address': '地址',
      'inst.host': '主机',
      'inst.hostKind.worker': '共享云主机',
      'inst.hostKind.box': '你自己的盒子',
      'inst.hostKind.none': '等待分配主机',
      'inst.open': '打开',
      'inst.logs': '日志',
      'inst.restart': '重启',
      'inst.delete': '删除',
      'inst.deleteTitle': '删除 {name}？',
      'inst.deleteBody': '它的网关会停止，数据会被清除。输入名称 {slug} 以确认。',
      'inst.deleteConfirm': '永久删除',
      'inst.deleted': '{name} 已删除。',
      'inst.restarted': '正在重启 {name}…',
      'inst.progress.pending': '等待主机接手…',
      'inst.progress.starting': '正在启动 OpenClaw…',
      'inst.progress.running': '运行中。',
      'inst.usage': '用量',
      'inst.disk': '磁盘',
      'inst.cpu': 'CPU',
      'inst.memory': '内存',
      'inst.limit': '上限 {v}',
      'inst.usageNote': '最近 6 小时，由主机测量（{n} 个点，每分钟最多一个）。',
      'inst.noUsage': '暂无用量数据，这里显示套餐的上限。',
      'inst.cpuChart': '最近 6 小时的 CPU（核）',
      'inst.memoryChart': '最近 6 小时的内存',
      'inst.diskChart': '最近 6 小时的磁盘用量',
      'inst.noDisk': '尚未测量',
      'inst.live': '实时',
      'inst.reconnecting': '正在重新连接…',
      'inst.team': '团队',
      'status.pending': '待分配',
      'status.starting': '启动中',
      'status.running': '运行中',
      'status.stopped': '已停止',
      'status.failed': '失败',
      'status.deleting': '删除中',
      'logs.title': '{name} 的日志',
      'logs.back': '返回我的 OpenClaw',
      'logs.filter': '筛选',
      'logs.filterPlaceholder': '要查找的文字',
      'logs.level': '级别',
      'logs.levelAll': '全部级别',
      'logs.follow': '跟随新日志',
      'logs.time': '时间',
      'logs.message': '消息',
      'logs.empty': '还没有日志。',
      'logs.count': '{total} 行中的 {n} 行',
      'logs.ended': '实时日志已结束：{reason}',
      'teams.title': '团队',
      'teams.hint': '你所在的团队以及你在其中的角色。',
      'teams.personal': '个人',
      'teams.role.owner': '所有者',
      'teams.role.admin': '管理员',
      'teams.role.member': '成员',
      'teams.members': '成员',
      'teams.invites': '邀请',
      'teams.newTeam': '新建团队',
      'teams.teamName': '团队名称',
      'teams.createTeam': '创建团队',
      'teams.invite': '创建邀请链接',
      'teams.inviteRole': '角色',
      'teams.inviteUses': '次数',
      'teams.inviteExpires': '过期时间',
      'teams.inviteLink': '把这个链接发给被邀请的人（只显示一次）：',
      'teams.revoke': '撤销',
      'teams.remove': '移除',
      'teams.member': '成员',
      'teams.role': '角色',
      'teams.unavailable': '这个云暂不支持管理成员和邀请。',
      'teams.accept': '加入团队',
      'teams.you': '你',
      'teams.roleOf': '{name} 的角色',
      'teams.roleChanged': '{name} 现在是{role}。',
      'teams.removed': '{name} 已离开团队。',
      'teams.removeTitle': '把 {name} 移出 {team}？',
      'teams.leave': '退出',
      'teams.actions': '操作',
      'teams.keys': '团队 API 密钥',
      'teams.keysHint': '密钥代表团队而不是某个人，用于自动化（CI、脚本）。',
      'teams.acceptTitle': '你被邀请加入一个团队',
      'teams.accepted': '你已加入 {name}。',
      'account.title': '账号',
      'account.profile': '个人资料',
      'account.email': '邮箱',
      'account.verified': '已验证',
      'account.unverified': '未验证',
      'account.language': '语言',
      'account.identities': '登录方式',
      'account.link': '关联 {name}',
      'account.unlink': '取消关联',
      'account.sessions': '会话',
      'account.current': '当前浏览器',
      'account.lastUsed': '最近使用',
      'account.signOutOne': '退出',
      'account.signOutAll': '退出其他所有会话',
      'account.signedOutAll': '已退出其他 {n} 个会话。',
      'account.keys': 'API 密钥',
      'account.keysUnavailable': '这个云暂不支持 API 密钥。',
      'account.keyName': '密钥名称',
      'account.createKey': '创建密钥',
      'account.scopes': '允许的操作',
      'account.keyShown': '新的密钥（只显示一次，请妥善保管）：',
      'account.keyExpires': '有效期',
      'account.keyExpiry.1': '1 天',
      'account.keyExpiry.30': '30 天',
      'account.keyExpiry.90': '90 天',
      'account.keyExpiry.365': '1 年',
      'account.keyExpiresAt': '过期时间',
      'account.keyLastUsed': '最近使用',
      'account.provider.local': '邮箱和密码',
      'admin.title': '平台管理',
      'admin.hint': '本云的用户、团队和审计日志。主机、实例、注册令牌和设置在运维仪表盘中。',
      'admin.dashboard': '打开运维仪表盘',
      'admin.users': '用户',
      'admin.teams': '团队',
      'admin.audit': '审计日志',
      'admin.name': '名称',
      'admin.email': '邮箱',
      'admin.created': '创建时间',
      'admin.lastSignIn': '最近登录',
      'admin.status': '状态',
      'admin.actions': '操作',
      'admin.isAdmin': '平台管理员',
      'admin.disabled': '已停用',
      'admin.active': '正常',
      'admin.makeAdmin': '设为管理员',
      'admin.dropAdmin': '取消管理员',
      'admin.disable': '停用',
      'admin.enable': '启用',
      'admin.disableTitle': '停用 {name}？在重新启用之前，其会话和密钥都无法使用。',
      'admin.userChanged': '{name} 已更新。',
      'admin.search': '搜索',
      'admin.searchUsers': '名称或邮箱',
      'admin.personal': '个人',
      'admin.members': '成员',
      'admin.tenants': '实例',
      'admin.showMembers': '成员',
      'admin.hideMembers': '收起成员',
      'admin.id': 'ID',
      'admin.time': '时间',
      'admin.actor': '操作者',
      'admin.action': '动作',
      'admin.target': '对象',
      'admin.detail': '详情',
      'admin.actorHint': '例如 user:usr_…、admin',
      'admin.actionHint': '例如 tenant.create，或 team. 表示一类',
      'admin.targetHint': '实例、团队、用户或主机的 ID',
      'admin.filter': '筛选',
      'admin.clear': '清除',
      'admin.newest': '最新',
      'admin.older': '更早',
      'admin.page': '第 {n} 页',
      'admin.noEvents': '没有匹配的事件。',
      'admin.noUsers': '没有用户。',
      'admin.notAdmin': '此页面仅供平台管理员使用。',
      'boxes.title': '我的盒子',
      'boxes.hint': '你或你的团队认领的 OpenClaw 盒子。每个盒子在家中运行主人的 OpenClaw，通过云访问。',
      'boxes.claimTitle': '认领盒子',
      'boxes.claimHint': '用手机扫描标签，或输入标签上印的设备 ID 和认领码。',
      'boxes.device': '设备 ID',
      'boxes.code': '认领码',
      'boxes.for': '归属',
      'boxes.personal': '我自己（个人）',
      'boxes.claim': '认领',
      'boxes.claimed': '{name} 已归你所有。它的 OpenClaw 正在启动：请看“我的 OpenClaw”。',
      'boxes.already': '{name} 已经是你的了。',
      'boxes.instanceError': '{name} 已归你所有，但它的 OpenClaw 暂时无法创建：{msg}',
      'boxes.empty': '你还没有盒子。用标签上的认领码认领一个。',
      'boxes.box': '盒子',
      'boxes.status': '状态',
      'boxes.owner': '归属',
      'boxes.instance': 'OpenClaw',
      'boxes.claimedAt': '认领时间',
      'boxes.lastSeen': '最后在线 {when}',
      'boxes.actions': '操作',
      'boxes.state.online': '在线',
      'boxes.state.offline': '离线',
      'boxes.state.pending': '从未连接',
      'boxes.role.claimer': '你',
      'boxes.none': '暂无',
      'boxes.release': '释放',
      'boxes.releaseTitle': '释放 {name}？盒子上的 OpenClaw 及其全部数据将被删除，持有标签的任何人都可以再次认领它。',
      'boxes.released': '{name} 已释放。',
      'err.wrong_claim_code': '认领码与这台设备不符，请核对标签后重试。',
      'err.box_claimed': '这个盒子已有主人：请对方释放，或请运营方重置。',
      'err.no_box': '没有这个设备 ID 的盒子。',
      'err.not_your_box': '只有盒子的认领人及其团队的所有者和管理员可以释放它。',
      'err.rate_limited': '尝试次数过多，请稍候再试。',
      'common.loading': '加载中…',
      'common.never': '从未',
      'common.close': '关闭',
      'err.network': '无法连接到云，请检查网络后重试。',
      'err.csrf_failed': '你的会话在另一个标签页中变了，请刷新页面后重试。',
      'err.not_signed_in': '会话已结束，请重新登录。',
      'err.too_many_streams': '打开的实时视图太多（其他标签页或窗口），请关闭一个后重试。',
      'err.no_capacity': '目前没有主机能容纳这个套餐，请选择更小的套餐或稍后再试。',
      'err.invalid_name': '名称无效：最多 64 个字符，不能包含控制字符。',
      'err.invalid_plan': '这个套餐不存在。',
      'err.forbidden': '你无权执行这个操作。',
      'err.confirm': '输入的名称不是 {slug}。',
      'err.generic': '出错了（{code}）。'
    }
  };

  var LANG_KEY = 'clawfleet.console.lang';

  // returnTo is where to go once signed in (?return_to=, e.g. the router's
  // /open/<slug> for a gateway opened without a session): a path on this
  // origin only; the cloud checks it again.
  var returnTo = (function () {
    var m = /[?&]return_to=([^&]*)/.exec(location.search);
    var v = m ? decodeURIComponent(m[1].replace(/\+/g, ' ')) : '';
    return /^\/(?![\/\\])[^\\\s]*$/.test(v) ? v : '';
  })();
  var state = {
    lang: 'en', me: null, providers: null, plans: null, tenants: {}, events: null, eventsLive: false,
    logs: null, route: '', teamsAPI: null
  };

  // ---------- language ----------

  function pickLang() {
    var saved = null;
    try { saved = localStorage.getItem(LANG_KEY); } catch (e) { /* private mode */ }
    if (saved === 'en' || saved === 'zh-CN') return saved;
    var langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
    for (var i = 0; i < langs.length; i++) {
      var l = String(langs[i]).toLowerCase();
      if (l === 'zh' || l.indexOf('zh-') === 0) return 'zh-CN';
      if (l === 'en' || l.indexOf('en-') === 0) return 'en';
    }
    return 'en';
  }

  function t(key, vars) {
    var s = (I18N[state.lang] && I18N[state.lang][key]) || I18N.en[key] || key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] != null ? String(vars[k]) : m; });
    }
    return s;
  }

  function applyStatic() {
    document.documentElement.lang = state.lang;
    document.title = t('app.title');
    var els = document.querySelectorAll('[data-i18n]');
    for (var i = 0; i < els.length; i++) els[i].textContent = t(els[i].getAttribute('data-i18n'));
    document.getElementById('lang-select').value = state.lang;
  }

  function setLang(l, remember) {
    state.lang = l;
    if (remember) {
      try { localStorage.setItem(LANG_KEY, l); } catch (e) { /* private mode */ }
    }
    applyStatic();
    render();
  }

  // ---------- HTTP ----------

  function ApiError(status, code, message) {
    this.status = status; this.code = code; this.message = message;
  }

  function api(method, path, body) {
    var init = { method: method, credentials: 'same-origin', cache: 'no-store', headers: { 'Accept-Language': state.lang } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (method !== 'GET' && state.me && state.me.csrfToken) init.headers['X-CSRF-Token'] = state.me.csrfToken;
    return fetch(path, init).then(function (res) {
      if (res.status === 204) return null;
      return res.text().then(function (txt) {
        var data = null;
        try { data = txt ? JSON.parse(txt) : null; } catch (e) { data = null; }
        if (!res.ok) {
          throw new ApiError(res.status, (data && data.code) || ('http_' + res.status), (data && data.error) || txt);
        }
        return data;
      });
    }, function () { throw new ApiError(0, 'network', t('err.network')); });
  }

  // errorText is what a person reads for err: our own words for the codes
  // we know, else the cloud's message (in their language for sign-in).
  function errorText(err) {
    if (!(err instanceof ApiError)) return String(err && err.message || err);
    var key = 'err.' + err.code;
    if (I18N.en[key] && (state.lang === 'zh-CN' || !err.message || err.code === 'network' || err.code === 'csrf_failed')) return t(key);
    return err.message || t('err.generic', { code: err.code });
  }

  // ---------- DOM helpers ----------

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] == null || attrs[k] === false) continue;
        var v = attrs[k];
        if (k === 'text') el.textContent = v;
        else if (k === 'class') el.className = v;
        else if (k.indexOf('on') === 0) el.addEventListener(k.slice(2), v);
        else if (k === 'testid') el.setAttribute('data-testid', v);
        else el.setAttribute(k, v === true ? '' : v);
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c == null || c === false) continue;
      if (Array.isArray(c)) { c.forEach(function (x) { if (x) el.appendChild(typeof x === 'string' ? document.createTextNode(x) : x); }); continue; }
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  function view() { return document.getElementById('view'); }

  var toastTimer = null;
  function toast(msg, kind) {
    var el = document.getElementById('toast');
    el.textContent = msg;
    el.setAttribute('data-kind', kind || 'ok');
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, 6000);
  }

  // The built-in providers' default names, in the user's language; a name
  // the operator gave (CLAWFLEET_OIDC_DISPLAY_NAME, displayName in YAML) is
  // a proper name and shown as it is.
  var BUILTIN_NAMES = { 'Single sign-on': 'provider.sso', 'WeChat': 'provider.wechat' };
  function providerName(pr) {
    var k = Object.prototype.hasOwnProperty.call(BUILTIN_NAMES, pr.displayName) ? BUILTIN_NAMES[pr.displayName] : '';
    return k ? t(k) : (pr.displayName || pr.name);
  }

  // identityName names a linked identity's provider as its button does,
  // with the provider's id (a provider no longer configured: the id alone).
  function identityName(name, providers) {
    var pr = (providers || []).filter(function (x) { return x.name === name; })[0];
    return pr && providerName(pr) !== name ? providerName(pr) + ' (' + name + ')' : name;
  }

  // A session's browser and system, read from its User-Agent (the whole
  // string is the row's title).
  function deviceName(ua) {
    if (!ua) return '—';
    var browser = /Edg\//.test(ua) ? 'Edge' : /HeadlessChrome\//.test(ua) ? 'HeadlessChrome' : /(Chrome|CriOS)\//.test(ua) ? 'Chrome'
      : /(Firefox|FxiOS)\//.test(ua) ? 'Firefox' : /Safari\//.test(ua) ? 'Safari' : '';
    var os = /Android/.test(ua) ? 'Android' : /(iPhone|iPad)/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
      : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : '';
    if (!browser || !os) return ua.length > 60 ? ua.slice(0, 57) + '…' : ua;
    return t('account.on', { browser: browser, os: os });
  }

  function alertBox(id, msg) {
    return h('div', { id: id, class: 'alert alert-error', role: 'alert', testid: id, hidden: !msg }, msg || '');
  }

  function showError(box, err) {
    box.textContent = errorText(err);
    box.setAttribute('data-code', err && err.code || '');
    box.hidden = false;
  }

  function field(id, label, input, hint) {
    input.id = id;
    if (hint) input.setAttribute('aria-describedby', id + '-hint');
    return h('div', { class: 'field' }, h('label', { for: id, text: label }), input, hint ? h('span', { class: 'hint', id: id + '-hint', text: hint }) : null);
  }

  function gib(bytes) {
    if (!bytes) return '0';
    var g = bytes / (1 << 30);
    if (g >= 1) return (Math.round(g * 100) / 100) + ' GiB';
    return Math.round(bytes / (1 << 20)) + ' MiB';
  }

  function cpu(m) { return (m / 1000) + ''; }

  function fmtTime(s) {
    if (!s) return t('common.never');
    var d = new Date(s);
    if (isNaN(d)) return s;
    return d.toLocaleString(state.lang);
  }

  // ---------- routing ----------

  function routeOf() {
    var hsh = location.hash.replace(/^#\/?/, '');
    var parts = hsh.split('/');
    return { name: parts[0] || 'instances', arg: decodeURIComponent(parts.slice(1).join('/')) };
  }

  var PUBLIC = { signin: true, signup: true, reset: true };

  function render() {
    var r = routeOf();
    state.route = r.name;
    if (!state.me && !PUBLIC[r.name]) {
      if (r.name === 'invite') sessionStorageSet('clawfleet.console.after', location.hash);
      r = { name: 'signin', arg: '' };
    }
    if (state.me && PUBLIC[r.name]) r = { name: 'instances', arg: '' };
    if (r.name !== 'logs') stopLogs();
    document.body.setAttribute('data-view', r.name);
    document.getElementById('nav').hidden = !state.me;
    document.getElementById('signout-button').hidden = !state.me;
    document.getElementById('nav-admin').hidden = !(state.me && state.me.platformAdmin);
    document.getElementById('who').textContent = state.me ? (state.me.name || state.me.email || '') : '';
    var links = document.querySelectorAll('#nav a[data-route]');
    for (var i = 0; i < links.length; i++) {
      var active = links[i].getAttribute('data-route') === r.name || (r.name === 'logs' && links[i].getAttribute('data-route') === 'instances');
      if (active) links[i].setAttribute('aria-current', 'page'); else links[i].removeAttribute('aria-current');
    }
    var v = view();
    v.textContent = '';
    var page = PAGES[r.name] || PAGES.instances;
    page(v, r.arg);
  }

  function sessionStorageSet(k, v) { try { sessionStorage.setItem(k, v); } catch (e) { /* ignore */ } }
  function sessionStorageTake(k) {
    try { var v = sessionStorage.getItem(k); sessionStorage.removeItem(k); return v; } catch (e) { return null; }
  }

  // ---------- sign-in ----------

  function signinCard(v, mode) {
    var card = h('section', { class: 'card login-card', testid: mode + '-view', 'aria-labelledby': mode + '-title' });
    v.appendChild(h('div', { class: 'login-view' }, card));
    card.appendChild(h('h1', { id: mode + '-title', text: t(mode + '.title') }));
    card.appendChild(h('p', { class: 'muted', text: t(mode === 'signin' ? 'signin.hint' : mode + '.hint') }));
    var err = alertBox('signin-error', sessionStorageTake('clawfleet.console.error'));
    card.appendChild(err);
    return { card: card, err: err };
  }

  function loadProviders() {
    if (state.providers) return Promise.resolve(state.providers);
    return api('GET', '/auth/providers').then(function (p) { state.providers = p; return p; });
  }

  var PAGES = {
    signin: pageSignin, signup: pageSignup, reset: pageReset, instances: pageInstances, logs: pageLogs,
    teams: pageTeams, boxes: pageBoxes, account: pageAccount, invite: pageInvite, admin: pageAdmin
  };

  function pageSignin(v) {
    var c = signinCard(v, 'signin');
    var box = h('div', { class: 'providers', testid: 'providers' }, h('p', { class: 'muted', text: t('common.loading') }));
    c.card.appendChild(box);
    loadProviders().then(function (p) {
      box.textContent = '';
      var back = returnTo || '/console';
      p.providers.forEach(function (pr) {
        box.appendChild(h('a', { class: 'btn btn-block provider-btn', href: '/auth/' + encodeURIComponent(pr.name) + '?return_to=' + encodeURIComponent(back),
          testid: 'provider-' + pr.name, 'data-provider': pr.name, text: t('signin.with', { name: providerName(pr) }) }));
      });
      if (!p.localAccounts) {
        if (!p.providers.length) box.appendChild(h('p', { class: 'muted', text: t('signin.none') }));
        return;
      }
      if (p.providers.length) box.appendChild(h('p', { class: 'divider muted small', text: t('signin.or') }));
      var email = h('input', { type: 'email', autocomplete: 'email', required: true, testid: 'signin-email' });
      var pw = h('input', { type: 'password', autocomplete: 'current-password', required: true, testid: 'signin-password' });
      var form = h('form', { testid: 'signin-form', novalidate: true },
        field('signin-email', t('signin.email'), email), field('signin-password', t('signin.password'), pw),
        h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'signin-submit', text: t('signin.submit') }));
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        c.err.hidden = true;
        api('POST', '/auth/local/signin', { email: email.value.trim(), password: pw.value }).then(signedIn, function (er) { showError(c.err, er); pw.focus(); });
      });
      box.appendChild(form);
      box.appendChild(h('p', { class: 'login-links' },
        h('a', { href: '#/signup', testid: 'to-signup', text: t('signin.toSignup') }), ' · ',
        h('a', { href: '#/reset', testid: 'to-reset', text: t('signin.toReset') })));
    }, function (er) { box.textContent = ''; showError(c.err, er); });
  }

  function pageSignup(v) {
    var c = signinCard(v, 'signup');
    var name = h('input', { type: 'text', autocomplete: 'name', testid: 'signup-name' });
    var email = h('input', { type: 'email', autocomplete: 'email', required: true, testid: 'signup-email' });
    var pw = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '15', testid: 'signup-password' });
    var form = h('form', { testid: 'signup-form', novalidate: true },
      field('signup-name', t('signin.name'), name), field('signup-email', t('signin.email'), email),
      field('signup-password', t('signin.password'), pw, t('signup.passwordHint')),
      h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'signup-submit', text: t('signup.submit') }));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      c.err.hidden = true;
      api('POST', '/auth/local/signup', { name: name.value.trim(), email: email.value.trim(), password: pw.value, lang: state.lang })
        .then(signedIn, function (er) { showError(c.err, er); });
    });
    c.card.appendChild(form);
    c.card.appendChild(h('p', { class: 'login-links' }, h('a', { href: '#/signin', testid: 'to-signin', text: t('signin.toSignin') })));
  }

  function pageReset(v) {
    var c = signinCard(v, 'reset');
    var email = h('input', { type: 'email', autocomplete: 'email', required: true, testid: 'reset-email' });
    var ok = h('div', { class: 'alert alert-ok', role: 'status', testid: 'reset-sent', hidden: true, text: t('reset.sent') });
    var form = h('form', { testid: 'reset-form', novalidate: true }, field('reset-email', t('signin.email'), email),
      h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'reset-submit', text: t('reset.submit') }));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      c.err.hidden = true;
      api('POST', '/auth/local/reset-request', { email: email.value.trim() }).then(function () { ok.hidden = false; }, function (er) { showError(c.err, er); });
    });
    c.card.appendChild(ok);
    c.card.appendChild(form);
    c.card.appendChild(h('p', { class: 'login-links' }, h('a', { href: '#/signin', testid: 'to-signin', text: t('signin.toSignin') })));
  }

  function signedIn(me) {
    if (returnTo) { location.href = returnTo; return; }
    state.me = me;
    if (me.lang && !localStorageLang()) setLangQuiet(me.lang);
    startEvents();
    var after = sessionStorageTake('clawfleet.console.after');
    if (after) { location.hash = after; return; }
    if (location.hash === '#/' || location.hash === '') render(); else location.hash = '#/';
  }

  function localStorageLang() { try { return localStorage.getItem(LANG_KEY); } catch (e) { return null; } }
  function setLangQuiet(l) { if (l === 'en' || l === 'zh-CN') { state.lang = l; applyStatic(); } }

  // ---------- instances ----------

  function loadPlans() {
    if (state.plans) return Promise.resolve(state.plans);
    return api('GET', '/api/plans').then(function (p) { state.plans = p.plans; return p.plans; });
  }

  // loadTenants reads the instances of every team of the user (and the
  // seed API's own one, for a cloud without teams); tenantTeam says which
  // team's routes act on each.
  // pushSeq counts pushed tenant events; pushed[id] is the count at id's
  // latest. A read that was under way when an event came must not put the
  // older state it read over that event's.
  var pushSeq = 0, pushed = {};

  function loadTenants() {
    var since = pushSeq;
    var teams = (state.me && state.me.teams) || [];
    var all = {}, team = {};
    var reads = teams.map(function (tm) {
      return api('GET', '/api/teams/' + encodeURIComponent(tm.id) + '/tenants').then(function (ts) {
        (ts || []).forEach(function (tn) { all[tn.id] = tn; team[tn.id] = tm.id; });
      }, function (er) { if (er.code !== 'no_endpoint' && er.status !== 404) throw er; });
    });
    reads.push(api('GET', '/api/tenants/me').then(function (tn) { if (!all[tn.id]) all[tn.id] = tn; }, function (er) {
      if (er.code !== 'no_tenant') throw er;
    }));
    return Promise.all(reads).then(function () {
      Object.keys(pushed).forEach(function (id) {
        if (pushed[id] <= since) return;
        if (state.tenants[id]) all[id] = state.tenants[id]; else delete all[id];
      });
      state.tenants = all; state.tenantTeam = team;
    });
  }

  // tenantPath is where the routes on tn are: its team's, or the seed API's.
  function tenantPath(tn) {
    var tm = state.tenantTeam && state.tenantTeam[tn.id];
    return tm ? '/api/teams/' + encodeURIComponent(tm) + '/tenants/' + encodeURIComponent(tn.id) : '/api/tenants/me';
  }

  function teamName(id) {
    var tm = ((state.me && state.me.teams) || []).filter(function (x) { return x.id === id; })[0];
    return tm ? (tm.personal ? t('teams.personal') : tm.name) : '';
  }

  function planLimits(p) {
    return t('inst.planLimits', { cpu: cpu(p.cpuMillis), mem: gib(p.memoryBytes), disk: gib(p.diskBytes) });
  }

  function pageInstances(v) {
    state.usage = {};
    var head = h('div', { class: 'view-head' },
      h('div', null, h('h1', { text: t('inst.title') }), h('p', { class: 'muted', text: t('inst.hint') })),
      h('div', { class: 'view-actions' },
        h('span', { id: 'live', class: 'live small', testid: 'live', 'data-live': state.eventsLive ? 'true' : 'false', text: state.eventsLive ? t('inst.live') : t('inst.reconnecting') }),
        h('button', { type: 'button', class: 'btn btn-primary', testid: 'create-open', text: t('inst.create'), onclick: function () { openCreate(); } })));
    v.appendChild(head);
    var err = alertBox('inst-error', '');
    v.appendChild(err);
    var createBox = h('div', { id: 'create-box' });
    v.appendChild(createBox);
    var grid = h('div', { id: 'instances', class: 'instance-grid', testid: 'instances', 'aria-live': 'polite' }, h('p', { class: 'muted', text: t('common.loading') }));
    v.appendChild(grid);
    Promise.all([loadTenants(), loadPlans()]).then(drawInstances, function (er) { grid.textContent = ''; showError(err, er); });
  }

  function drawInstances() {
    var grid = document.getElementById('instances');
    if (!grid) return;
    grid.textContent = '';
    var ids = Object.keys(state.tenants).sort();
    if (!ids.length) {
      grid.appendChild(h('div', { class: 'card empty', testid: 'instances-empty' },
        h('h2', { text: t('inst.empty') }), h('p', { class: 'muted', text: t('inst.emptyHint') }),
        h('button', { type: 'button', class: 'btn btn-primary', testid: 'create-open-empty', text: t('inst.create'), onclick: function () { openCreate(); } })));
      grid.setAttribute('data-count', '0');
      return;
    }
    grid.setAttribute('data-count', String(ids.length));
    ids.forEach(function (id) { grid.appendChild(instanceCard(state.tenants[id])); });
  }

  function statusBadge(s) {
    return h('span', { class: 'badge badge-tenant-' + (I18N.en['status.' + s] ? s : 'unknown'), testid: 'status', 'data-status': s, text: t('status.' + s) });
  }

  function meter(used, total) {
    var pct = total ? Math.min(100, Math.round(used * 100 / total)) : 0;
    var cls = pct >= 90 ? 'meter-crit' : pct >= 75 ? 'meter-warn' : 'meter-ok';
    return h('span', { class: 'meter', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct) },
      h('span', { class: 'meter-fill ' + cls, style: 'width:' + pct + '%' }));
  }

  function instanceCard(tn) {
    var kind = tn.hostKind === 'box' ? 'box' : tn.hostKind === 'worker' ? 'worker' : 'none';
    var busy = tn.status === 'pending' || tn.status === 'starting';
    var card = h('article', { class: 'card instance-card', testid: 'instance', 'data-id': tn.id, 'data-status': tn.status, 'aria-labelledby': 'name-' + tn.id });
    card.appendChild(h('div', { class: 'instance-head' },
      h('h2', { id: 'name-' + tn.id, class: 'instance-name', text: tn.name || tn.slug }), statusBadge(tn.status)));
    if (busy || tn.status === 'running') {
      var step = tn.status === 'running' ? 3 : tn.status === 'starting' ? 2 : 1;
      card.appendChild(h('div', { class: 'progress', testid: 'progress', 'data-step': String(step) },
        h('ol', { class: 'steps', 'aria-label': t('inst.progress.' + tn.status) },
          ['pending', 'starting', 'running'].map(function (s, i) {
            return h('li', { class: i + 1 < step ? 'done' : i + 1 === step ? 'now' : '', 'aria-current': i + 1 === step ? 'step' : null, text: t('status.' + s) });
          })),
        busy ? h('p', { class: 'small muted', role: 'status', text: t('inst.progress.' + tn.status) }) : null));
    }
    if (tn.lastError) card.appendChild(h('p', { class: 'tenant-error', testid: 'last-error', text: tn.lastError }));
    var plan = (state.plans || []).filter(function (p) { return p.name === tn.plan; })[0] ||
      { name: tn.plan, cpuMillis: tn.resources.cpuMillis, memoryBytes: tn.resources.memoryBytes, diskBytes: tn.resources.diskBytes };
    card.appendChild(h('dl', { class: 'facts' },
      h('dt', { text: t('inst.address') }), h('dd', null, h('a', { href: tn.url, target: '_blank', rel: 'noopener noreferrer', class: 'tenant-url mono', testid: 'url', text: tn.url })),
      h('dt', { text: t('inst.plan') }), h('dd', { testid: 'plan' }, h('strong', { text: tn.plan }), ' ', h('span', { class: 'muted small', text: planLimits(plan) })),
      h('dt', { text: t('inst.host') }), h('dd', { testid: 'host-kind', 'data-kind': kind, text: t('inst.hostKind.' + kind) }),
      state.tenantTeam && state.tenantTeam[tn.id] ? h('dt', { text: t('inst.team') }) : null,
      state.tenantTeam && state.tenantTeam[tn.id] ? h('dd', { testid: 'team', text: teamName(state.tenantTeam[tn.id]) }) : null));
    card.appendChild(usage(tn));
    card.appendChild(h('div', { class: 'instance-actions' },
      h('button', { type: 'button', class: 'btn btn-primary btn-sm', testid: 'open', disabled: tn.status !== 'running', text: t('inst.open'), onclick: function () { openInstance(tn); } }),
      h('a', { class: 'btn btn-sm', href: '#/logs/' + encodeURIComponent(tn.id), testid: 'logs', text: t('inst.logs') }),
      manages(tn) ? h('button', { type: 'button', class: 'btn btn-sm', testid: 'restart', disabled: tn.status === 'deleting', text: t('inst.restart'), onclick: function () { restartInstance(tn); } }) : null,
      manages(tn) ? h('button', { type: 'button', class: 'btn btn-danger-ghost btn-sm', testid: 'delete', text: t('inst.delete'), onclick: function () { confirmDelete(tn); } }) : null));
    return card;
  }

  // manages: whether the user may restart and delete tn (a team's owners
  // and admins; members open and read).
  function manages(tn) {
    var tm = state.tenantTeam && state.tenantTeam[tn.id];
    if (!tm) return true;
    var m = ((state.me && state.me.teams) || []).filter(function (x) { return x.id === tm; })[0];
    return !!m && (m.role === 'owner' || m.role === 'admin');
  }

  // usage shows the disk meter and, from GET …/usage, the last hours of
  // CPU, memory and disk as small charts with the current value against
  // the plan's limit. Read when the page is drawn (pageInstances resets
  // state.usage) and then at most once a minute, not at every pushed status.
  function usage(tn) {
    var box = h('div', { class: 'usage', testid: 'usage' }, h('h3', { class: 'small', text: t('inst.usage') }));
    var d = tn.disk;
    var diskRow = h('div', { class: 'usage-row', testid: 'usage-disk' }, h('span', { class: 'usage-label', text: t('inst.disk') }));
    if (d && d.totalBytes) {
      diskRow.appendChild(h('span', { class: 'meter-wrap' }, h('span', { class: 'meter-text', text: gib(d.usedBytes) + ' / ' + gib(d.totalBytes) }), meter(d.usedBytes, d.totalBytes)));
    } else {
      diskRow.appendChild(h('span', { class: 'muted small', text: t('inst.noDisk') + ' · ' + t('inst.limit', { v: gib(tn.resources.diskBytes) }) }));
    }
    box.appendChild(diskRow);
    var rows = {
      cpu: h('div', { class: 'usage-row', testid: 'usage-cpu', 'data-points': '0' }, h('span', { class: 'usage-label', text: t('inst.cpu') }), h('span', { class: 'muted small', text: t('inst.limit', { v: cpu(tn.resources.cpuMillis) }) })),
      memory: h('div', { class: 'usage-row', testid: 'usage-memory', 'data-points': '0' }, h('span', { class: 'usage-label', text: t('inst.memory') }), h('span', { class: 'muted small', text: t('inst.limit', { v: gib(tn.resources.memoryBytes) }) }))
    };
    box.appendChild(rows.cpu);
    box.appendChild(rows.memory);
    var note = h('p', { class: 'small muted usage-note', testid: 'usage-note', text: t('inst.noUsage') });
    box.appendChild(note);
    if (tn.status === 'deleting') return box;
    state.usage = state.usage || {};
    var c = state.usage[tn.id];
    if (!c || Date.now() - c.at > 60000) c = state.usage[tn.id] = { at: Date.now(), p: api('GET', tenantPath(tn) + '/usage?hours=6') };
    c.p.then(function (u) {
      var pts = (u && u.points) || [];
      if (!pts.length) return;
      var last = pts[pts.length - 1];
      var res = u.resources || tn.resources;
      fillUsage(rows.cpu, pts.map(function (p) { return p.cpuMillicores; }), res.cpuMillis, cpu(last.cpuMillicores) + ' / ' + cpu(res.cpuMillis), t('inst.cpuChart'));
      fillUsage(rows.memory, pts.map(function (p) { return p.memoryBytes; }), res.memoryBytes, gib(last.memoryBytes) + ' / ' + gib(res.memoryBytes), t('inst.memoryChart'));
      if (res.diskBytes && pts.some(function (p) { return p.diskBytes > 0; })) {
        (diskRow.querySelector('.meter-wrap') || diskRow).appendChild(sparkline(pts.map(function (p) { return p.diskBytes; }), res.diskBytes, t('inst.diskChart')));
      }
      note.textContent = t('inst.usageNote', { n: pts.length });
    }, function () { /* the limits stay shown */ });
    return box;
  }

  // fillUsage puts the current value and a chart of values into a row.
  function fillUsage(row, values, limit, text, label) {
    row.setAttribute('data-points', String(values.length));
    var name = row.firstChild;
    row.textContent = '';
    row.appendChild(name);
    row.appendChild(h('span', { class: 'meter-wrap' }, h('span', { class: 'meter-text', testid: 'usage-value', text: text }), sparkline(values, limit, label)));
  }

  // sparkline draws values (oldest first) as an inline SVG line against
  // max(limit, the largest value).
  function sparkline(values, limit, label) {
    var NS = 'http://www.w3.org/2000/svg', w = 120, hgt = 28;
    var top = Math.max(limit || 0, Math.max.apply(null, values)) || 1;
    var svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + hgt);
    svg.setAttribute('class', 'sparkline');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
    svg.setAttribute('data-testid', 'chart');
    var n = values.length;
    var pts = values.map(function (v, i) {
      var x = n === 1 ? w : (i * w / (n - 1));
      return x.toFixed(1) + ',' + (hgt - 1 - (v / top) * (hgt - 2)).toFixed(1);
    });
    if (n === 1) pts.unshift('0,' + pts[0].split(',')[1]);
    var line = document.createElementNS(NS, 'polyline');
    line.setAttribute('points', pts.join(' '));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', 'currentColor');
    line.setAttribute('stroke-width', '1.5');
    svg.appendChild(line);
    return svg;
  }

  function openCreate() {
    var box = document.getElementById('create-box');
    if (!box) return;
    box.textContent = '';
    loadPlans().then(function (plans) {
      var name = h('input', { type: 'text', maxlength: '64', placeholder: t('inst.namePlaceholder'), testid: 'create-name' });
      var group = h('div', { class: 'plan-choices', role: 'radiogroup', 'aria-labelledby': 'plan-label' });
      plans.forEach(function (p, i) {
        var id = 'plan-' + p.name;
        group.appendChild(h('label', { class: 'plan-choice', for: id },
          h('input', { type: 'radio', name: 'plan', id: id, value: p.name, checked: i === 0, testid: 'plan-' + p.name }),
          h('span', { class: 'plan-name', text: p.name }), h('span', { class: 'small muted', text: planLimits(p) })));
      });
      var err = alertBox('create-error', '');
      var mine = ((state.me && state.me.teams) || []).filter(function (tm) { return tm.role === 'owner' || tm.role === 'admin'; });
      var teamSel = h('select', { testid: 'create-team' }, mine.map(function (tm) {
        return h('option', { value: tm.id, text: tm.personal ? t('teams.personal') : tm.name });
      }));
      var form = h('form', { class: 'card form-card create-card', testid: 'create-form', 'aria-labelledby': 'create-title' },
        h('h2', { id: 'create-title', text: t('inst.createTitle') }), err,
        field('create-name', t('inst.name'), name),
        mine.length > 1 ? field('create-team', t('inst.team'), teamSel) : null,
        h('div', { class: 'field' }, h('span', { id: 'plan-label', class: 'label', text: t('inst.plan') }), group),
        h('div', { class: 'form-actions' },
          h('button', { type: 'submit', class: 'btn btn-primary', testid: 'create-submit', text: t('inst.createSubmit') }),
          h('button', { type: 'button', class: 'btn', testid: 'create-cancel', text: t('inst.cancel'), onclick: function () { box.textContent = ''; } })));
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        err.hidden = true;
        var chosen = form.querySelector('input[name="plan"]:checked');
        var team = mine.length ? teamSel.value : '';
        var path = team ? '/api/teams/' + encodeURIComponent(team) + '/tenants' : '/api/tenants';
        api('POST', path, { name: name.value.trim(), plan: chosen ? chosen.value : '' }).then(function (tn) {
          box.textContent = '';
          // A pushed status (or a read it set off) may have come before
          // this answer, and is newer than it: keep that one.
          if (!state.tenants[tn.id]) state.tenants[tn.id] = tn;
          if (team) { state.tenantTeam = state.tenantTeam || {}; state.tenantTeam[tn.id] = team; }
          drawInstances();
        }, function (er) { showError(err, er); });
      });
      box.appendChild(form);
      name.focus();
    }, function (er) { box.appendChild(alertBox('create-error', errorText(er))); });
  }

  function openInstance(tn) {
    // Opened at once (a popup must come from the click), then sent to the
    // one-time link; noopener after the fact.
    var w = window.open('about:blank', '_blank');
    var p = tenantPath(tn);
    api('POST', p === '/api/tenants/me' ? p + '/access' : p + '/open', {}).then(function (r) {
      if (w) { w.opener = null; w.location.href = r.url; } else { location.href = r.url; }
    }, function (er) {
      if (w) w.close();
      toast(errorText(er), 'error');
    });
  }

  function restartInstance(tn) {
    api('POST', tenantPath(tn) + '/restart').then(function (n) {
      state.tenants[n.id] = n;
      drawInstances();
      toast(t('inst.restarted', { name: n.name || n.slug }));
    }, function (er) { toast(errorText(er), 'error'); });
  }

  function confirmDelete(tn) {
    var input = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', testid: 'delete-confirm-input' });
    var err = alertBox('delete-error', '');
    var dlg = h('dialog', { class: 'dialog', testid: 'delete-dialog', 'aria-labelledby': 'delete-title' });
    var form = h('form', { class: 'dialog-body', method: 'dialog' },
      h('h2', { id: 'delete-title', text: t('inst.deleteTitle', { name: tn.name || tn.slug }) }),
      h('p', { id: 'delete-body', text: t('inst.deleteBody', { slug: tn.slug }) }), err,
      field('delete-confirm', t('inst.name'), input),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'btn btn-danger', testid: 'delete-confirm', text: t('inst.deleteConfirm') }),
        h('button', { type: 'button', class: 'btn', testid: 'delete-cancel', text: t('inst.cancel'), onclick: function () { dlg.close(); } })));
    input.setAttribute('aria-describedby', 'delete-body');
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (input.value.trim() !== tn.slug) { showError(err, { code: 'confirm', message: '' }); err.textContent = t('err.confirm', { slug: tn.slug }); return; }
      api('DELETE', tenantPath(tn)).then(function () {
        dlg.close();
        delete state.tenants[tn.id];
        drawInstances();
        toast(t('inst.deleted', { name: tn.name || tn.slug }));
      }, function (er) { showError(err, er); });
    });
    dlg.appendChild(form);
    dlg.addEventListener('close', function () { dlg.remove(); });
    document.body.appendChild(dlg);
    dlg.showModal();
    input.focus();
  }

  // ---------- pushed status ----------

  function setLive(on) {
    state.eventsLive = on;
    var el = document.getElementById('live');
    if (el) { el.setAttribute('data-live', on ? 'true' : 'false'); el.textContent = on ? t('inst.live') : t('inst.reconnecting'); }
  }

  function startEvents() {
    if (state.events || !window.EventSource) return;
    var es = new EventSource('/api/tenants/events');
    state.events = es;
    es.addEventListener('ready', function () {
      setLive(true);
      // Read the state now that no change can be missed.
      if (state.route === 'instances') loadTenants().then(drawInstances, function () {});
    });
    es.addEventListener('tenant', function (e) {
      var tn = JSON.parse(e.data);
      var known = !!state.tenants[tn.id];
      pushed[tn.id] = ++pushSeq;
      state.tenants[tn.id] = tn;
      // A new one (made elsewhere, or a team's): read which team it is in.
      if (!known) loadTenants().then(function () { if (state.route === 'instances') drawInstances(); }, function () {});
      else if (state.route === 'instances') drawInstances();
    });
    es.addEventListener('deleted', function (e) {
      var d = JSON.parse(e.data);
      pushed[d.id] = ++pushSeq;
      delete state.tenants[d.id];
      if (state.route === 'instances') drawInstances();
    });
    es.addEventListener('resync', function () { setLive(false); });
    es.addEventListener('end', function () { setLive(false); });
    es.onerror = function () {
      setLive(false);
      if (es.readyState === EventSource.CLOSED) {
        state.events = null;
        setTimeout(function () { if (state.me) startEvents(); }, 3000);
      }
    };
  }

  function stopEvents() {
    if (state.events) { state.events.close(); state.events = null; }
  }

  // ---------- logs ----------

  // parseLine reads one OpenClaw log line: its JSON (tslog: the message in
  // "message" or the numbered fields, the level and time in _meta), or a
  // plain "<RFC 3339 time> [subsystem] message" line (OpenClaw's console
  // output, which hosts prefix with "stdout| " when they merge it with the
  // log file), or the line itself.
  function parseLine(raw) {
    var out = { time: '', level: '', subsystem: '', message: raw, raw: raw, source: '' };
    var line = raw;
    var src = /^(stdout|stderr)\| ?/.exec(line);
    if (src) { out.source = src[1]; line = line.slice(src[0].length); out.message = line; }
    if (line.charAt(0) === '{') {
      try {
        var p = JSON.parse(line);
        var meta = p._meta && typeof p._meta === 'object' ? p._meta : {};
        out.time = typeof p.time === 'string' ? p.time : (typeof meta.date === 'string' ? meta.date : '');
        out.level = String(meta.logLevelName || p.level || '').toLowerCase();
        var first = typeof p['0'] === 'string' ? p['0'] : '';
        var name = typeof meta.name === 'string' ? meta.name : (first.charAt(0) === '{' ? first : '');
        if (name.charAt(0) === '{') {
          try { var n = JSON.parse(name); out.subsystem = n.subsystem || n.module || ''; } catch (e) { /* not a name */ }
        }
        if (typeof p.message === 'string') {
          out.message = p.message;
        } else {
          var parts = [];
          Object.keys(p).forEach(function (k) {
            if (!/^\d+$/.test(k) || (name && p[k] === name)) return;
            parts.push(typeof p[k] === 'string' ? p[k] : JSON.stringify(p[k]));
          });
          out.message = parts.join(' ');
        }
        return out;
      } catch (e) { /* not JSON */ }
    }
    var m = /^(\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?)\s+(.*)$/.exec(line);
    if (m) {
      out.time = m[1]; out.message = m[2];
      var sub = /^\[([\w.:\/-]{1,40})\]\s+(.*)$/.exec(out.message);
      if (sub) { out.subsystem = sub[1]; out.message = sub[2]; }
    }
    var lv = /\b(error|warn|warning|info|debug|trace|fatal)\b/i.exec(out.message.slice(0, 40));
    if (lv && !out.level) out.level = lv[1].toLowerCase() === 'warning' ? 'warn' : lv[1].toLowerCase();
    return out;
  }

  function shortTime(s) {
    if (!s) return '';
    var d = new Date(s);
    if (isNaN(d)) return s;
    return d.toLocaleTimeString(state.lang, { hour12: false });
  }

  function stopLogs() {
    if (state.logs && state.logs.es) state.logs.es.close();
    state.logs = null;
  }

  function pageLogs(v, id) {
    stopLogs();
    var tn = state.tenants[id];
    var title = h('h1', { text: t('logs.title', { name: tn ? (tn.name || tn.slug) : id }) });
    v.appendChild(h('div', { class: 'view-head' }, h('div', null, h('p', null, h('a', { href: '#/', testid: 'logs-back', text: '← ' + t('logs.back') })), title)));
    var err = alertBox('logs-error', '');
    var filter = h('input', { type: 'search', placeholder: t('logs.filterPlaceholder'), testid: 'logs-filter' });
    var level = h('select', { testid: 'logs-level' }, h('option', { value: '', text: t('logs.levelAll') }),
      ['error', 'warn', 'info', 'debug'].map(function (l) { return h('option', { value: l, text: t('level.' + l) }); }));
    var follow = h('input', { type: 'checkbox', id: 'logs-follow', checked: true, testid: 'logs-follow' });
    var count = h('span', { class: 'small muted', testid: 'logs-count', 'aria-live': 'polite' });
    var body = h('tbody', { id: 'log-rows' });
    var table = h('div', { class: 'card table-card log-card', id: 'log-scroll', tabindex: '0', 'aria-label': t('inst.logs') },
      h('table', { class: 'data-table log-table', testid: 'log-table' },
        h('thead', null, h('tr', null, h('th', { scope: 'col', text: t('logs.time') }), h('th', { scope: 'col', text: t('logs.level') }), h('th', { scope: 'col', text: t('logs.message') }))),
        body));
    v.appendChild(err);
    v.appendChild(h('div', { class: 'logs-toolbar' },
      field('logs-filter', t('logs.filter'), filter), field('logs-level', t('logs.level'), level),
      h('label', { class: 'check-row', for: 'logs-follow' }, follow, t('logs.follow')), count));
    v.appendChild(table);
    var L = { lines: [], es: null };
    state.logs = L;
    function matches(p) {
      var q = filter.value.trim().toLowerCase();
      if (level.value && p.level !== level.value && !(level.value === 'error' && p.level === 'fatal')) return false;
      return !q || p.raw.toLowerCase().indexOf(q) >= 0;
    }
    function row(p) {
      return h('tr', { 'data-level': p.level || 'none', 'data-source': p.source || null, testid: 'log-line' },
        h('td', { class: 'mono nowrap log-time', title: p.time, text: shortTime(p.time) }),
        h('td', null, p.level ? h('span', { class: 'level level-' + p.level, text: I18N.en['level.' + p.level] ? t('level.' + p.level) : p.level.toUpperCase() }) : ''),
        h('td', { class: 'log-msg' }, p.subsystem ? h('span', { class: 'muted', text: '[' + p.subsystem + '] ' }) : null, p.message));
    }
    function redraw() {
      body.textContent = '';
      var shown = 0;
      L.lines.forEach(function (p) { if (matches(p)) { body.appendChild(row(p)); shown++; } });
      if (!L.lines.length) body.appendChild(h('tr', null, h('td', { colspan: '3', class: 'muted', testid: 'logs-empty', text: t('logs.empty') })));
      count.textContent = t('logs.count', { n: shown, total: L.lines.length });
      scroll();
    }
    function scroll() { if (follow.checked) table.scrollTop = table.scrollHeight; }
    function add(raw) {
      var p = parseLine(raw);
      L.lines.push(p);
      if (L.lines.length > 2000) { L.lines.shift(); redraw(); return; }
      var empty = body.querySelector('[data-testid="logs-empty"]');
      if (empty) body.textContent = '';
      if (matches(p)) body.appendChild(row(p));
      count.textContent = t('logs.count', { n: body.querySelectorAll('tr').length, total: L.lines.length });
      scroll();
    }
    filter.addEventListener('input', redraw);
    level.addEventListener('change', redraw);
    function connect() {
      if (L.es) L.es.close();
      L.lines = [];
      redraw();
      var es = new EventSource(base + '/logs?follow=1&tail=500');
      L.es = es;
      es.onmessage = function (e) { add(e.data); };
      es.addEventListener('error', function (e) {
        if (e.data) { try { var b = JSON.parse(e.data); showError(err, new ApiError(0, b.code, b.error)); } catch (x) { /* ignore */ } es.close(); }
      });
      es.addEventListener('end', function (e) {
        var b = {}; try { b = JSON.parse(e.data); } catch (x) { /* ignore */ }
        es.close();
        err.className = 'alert alert-warn';
        err.textContent = t('logs.ended', { reason: b.reason || '' });
        err.hidden = false;
      });
    }
    follow.addEventListener('change', function () {
      if (follow.checked) connect(); else if (L.es) { L.es.close(); L.es = null; }
    });
    // A plain read first: a refusal (too many streams) shows its reason.
    var base = tn ? tenantPath(tn) : '/api/tenants/me';
    api('GET', base + '/logs?tail=1').then(connect, function (er) { showError(err, er); });
  }

  // ---------- boxes ----------

  // pageBoxes lists the boxes of the user and their teams (GET /api/claims),
  // claims one by the code on its label, and releases one (its claimer and
  // the owners and admins of its team; the cloud decides, canRelease says).
  function pageBoxes(v) {
    v.appendChild(h('div', { class: 'view-head' }, h('div', null, h('h1', { text: t('boxes.title') }), h('p', { class: 'muted', text: t('boxes.hint') }))));
    var err = alertBox('box-error', '');
    var done = h('p', { class: 'small', testid: 'claim-result', role: 'status', hidden: true });
    var device = h('input', { type: 'text', maxlength: '128', autocomplete: 'off', spellcheck: 'false', class: 'mono', testid: 'claim-device', required: true });
    var code = h('input', { type: 'text', maxlength: '64', autocomplete: 'off', spellcheck: 'false', class: 'mono', testid: 'claim-code', required: true });
    var teams = (state.me.teams || []).filter(function (tm) { return !tm.personal && (tm.role === 'owner' || tm.role === 'admin'); });
    var owner = h('select', { testid: 'claim-team' }, h('option', { value: '', text: t('boxes.personal') }),
      teams.map(function (tm) { return h('option', { value: tm.id, text: tm.name }); }));
    var submit = h('button', { type: 'submit', class: 'btn btn-primary btn-sm', testid: 'claim-submit', text: t('boxes.claim') });
    var form = h('form', { class: 'card form-card invite-form claim-form', testid: 'claim-form', 'aria-labelledby': 'claim-title' },
      h('h2', { id: 'claim-title', text: t('boxes.claimTitle') }),
      h('p', { class: 'small muted', text: t('boxes.claimHint') }),
      field('claim-device', t('boxes.device'), device), field('claim-code', t('boxes.code'), code),
      teams.length ? field('claim-team', t('boxes.for'), owner) : null, submit);
    var list = h('div', { testid: 'boxes' }, h('p', { class: 'muted', text: t('common.loading') }));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      err.hidden = true;
      done.hidden = true;
      submit.disabled = true;
      var body = { deviceId: device.value.trim(), claimCode: code.value.trim() };
      if (owner.value) body.teamId = owner.value;
      api('POST', '/api/claims', body).then(function (r) {
        var name = (r && r.box && (r.box.name || r.box.deviceId)) || body.deviceId;
        done.textContent = r && r.instanceError ? t('boxes.instanceError', { name: name, msg: r.instanceError }) :
          t(r && r.tenant ? 'boxes.claimed' : 'boxes.already', { name: name });
        done.hidden = false;
        code.value = '';
        loadBoxes(list, err);
      }, function (er) { showError(err, er); }).then(function () { submit.disabled = false; });
    });
    v.appendChild(form);
    v.appendChild(err);
    v.appendChild(done);
    v.appendChild(list);
    loadBoxes(list, err);
  }

  function loadBoxes(list, err) {
    return api('GET', '/api/claims').then(function (bs) {
      list.textContent = '';
      bs = bs || [];
      list.setAttribute('data-count', String(bs.length));
      if (!bs.length) { list.appendChild(h('p', { class: 'muted', testid: 'boxes-empty', text: t('boxes.empty') })); return; }
      var teamName = function (id) {
        var tm = (state.me.teams || []).filter(function (x) { return x.id === id; })[0];
        return tm ? (tm.personal ? t('teams.personal') : tm.name) : '';
      };
      list.appendChild(h('div', { class: 'table-card' }, h('table', { class: 'data-table' },
        h('thead', null, h('tr', null, ['boxes.box', 'boxes.status', 'boxes.owner', 'boxes.instance', 'boxes.claimedAt'].map(function (k) { return h('th', { scope: 'col', text: t(k) }); }),
          h('th', { scope: 'col', class: 'actions', text: t('boxes.actions') }))),
        h('tbody', null, bs.map(function (b) {
          var name = b.name || b.deviceId;
          var st = I18N.en['boxes.state.' + b.status] ? b.status : 'pending';
          var inst = b.instance;
          var release = b.canRelease ? h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', testid: 'box-release', text: t('boxes.release'), onclick: function () {
            ask(t('boxes.releaseTitle', { name: name }), t('boxes.release'), function () {
              err.hidden = true;
              return api('DELETE', '/api/claims/' + encodeURIComponent(b.deviceId)).then(function () {
                toast(t('boxes.released', { name: name }));
                loadBoxes(list, err);
              }, function (er) { showError(err, er); });
            });
          } }) : null;
          var role = b.role === 'claimer' ? t('boxes.role.claimer') : (I18N.en['teams.role.' + b.role] ? t('teams.role.' + b.role) : b.role);
          return h('tr', { testid: 'box', 'data-device': b.deviceId, 'data-status': b.status, 'data-role': b.role },
            h('td', { class: 'wrap' }, h('div', { text: name }), h('div', { class: 'small muted mono', text: b.deviceId }), b.model ? h('div', { class: 'small muted', text: b.model }) : null),
            h('td', null, h('span', { class: 'chip' + (st === 'online' ? '' : ' chip-off'), testid: 'box-status', text: t('boxes.state.' + st) }),
              b.lastSeen && st !== 'online' ? h('div', { class: 'small muted', text: t('boxes.lastSeen', { when: fmtTime(b.lastSeen) }) }) : null),
            h('td', null, h('div', { testid: 'box-team', text: b.teamId ? teamName(b.teamId) : t('teams.personal') }), h('div', { class: 'small muted', testid: 'box-role', text: role })),
            h('td', { testid: 'box-instance' }, inst ? h('div', null, h('a', { href: '#/', class: 'mono', text: inst.slug }), ' ', statusBadge(inst.status)) : h('span', { class: 'muted', text: t('boxes.none') })),
            h('td', { class: 'small' }, fmtTime(b.claimedAt)),
            h('td', { class: 'actions' }, release));
        })))));
    }, function (er) { list.textContent = ''; showError(err, er); });
  }

  // ---------- teams ----------

  function pageTeams(v) {
    v.appendChild(h('div', { class: 'view-head' }, h('div', null, h('h1', { text: t('teams.title') }), h('p', { class: 'muted', text: t('teams.hint') }))));
    var name = h('input', { type: 'text', maxlength: '64', testid: 'team-name' });
    var err = alertBox('team-error', '');
    var form = h('form', { class: 'card form-card invite-form new-team', testid: 'team-form', 'aria-label': t('teams.newTeam') },
      field('team-name', t('teams.teamName'), name),
      h('button', { type: 'submit', class: 'btn btn-primary btn-sm', testid: 'team-create', text: t('teams.createTeam') }));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      err.hidden = true;
      api('POST', '/api/teams', { name: name.value.trim() }).then(function () {
        return api('GET', '/api/me').then(function (me) { state.me = me; stopEvents(); startEvents(); render(); });
      }, function (er) { showError(err, er); });
    });
    v.appendChild(err);
    v.appendChild(form);
    var list = h('div', { class: 'team-list', testid: 'teams' });
    v.appendChild(list);
    (state.me.teams || []).forEach(function (tm) {
      var card = h('section', { class: 'card team-card', testid: 'team', 'data-id': tm.id, 'data-personal': tm.personal ? 'true' : 'false', 'aria-labelledby': 'team-' + tm.id },
        h('div', { class: 'instance-head' }, h('h2', { id: 'team-' + tm.id, text: tm.name }),
          h('span', { class: 'chip', testid: 'team-role', text: t('teams.role.' + tm.role) + (tm.personal ? ' · ' + t('teams.personal') : '') })));
      var members = h('div', { class: 'team-members', testid: 'team-members' });
      card.appendChild(members);
      list.appendChild(card);
      api('GET', '/api/teams/' + encodeURIComponent(tm.id) + '/members').then(function (ms) {
        drawMembers(members, tm, Array.isArray(ms) ? ms : (ms && ms.members) || []);
      }, function (er) {
        members.appendChild(h('p', { class: 'muted small', testid: 'teams-unavailable', 'data-code': er.code, text: er.status === 404 && er.code === 'no_endpoint' ? t('teams.unavailable') : errorText(er) }));
      });
    });
  }

  // drawMembers lists tm's members; its owners and admins also change
  // roles, remove members, invite and manage the team's API keys. Owners
  // are an owner's to change (the cloud refuses an admin), and the last
  // owner stays: the cloud's refusal (last_owner) is shown as it says it.
  function drawMembers(box, tm, ms) {
    var manager = !tm.personal && (tm.role === 'owner' || tm.role === 'admin');
    var err = alertBox('member-error-' + tm.id, '');
    err.setAttribute('data-testid', 'member-error');
    box.appendChild(h('h3', { text: t('teams.members') }));
    box.appendChild(err);
    var reload = function () {
      api('GET', '/api/teams/' + encodeURIComponent(tm.id) + '/members').then(function (fresh) {
        box.textContent = '';
        drawMembers(box, tm, Array.isArray(fresh) ? fresh : []);
      }, function (er) { showError(err, er); });
    };
    var memberPath = function (m) { return '/api/teams/' + encodeURIComponent(tm.id) + '/members/' + encodeURIComponent(m.userId); };
    box.appendChild(h('div', { class: 'table-card' }, h('table', { class: 'data-table' },
      h('thead', null, h('tr', null, h('th', { scope: 'col', text: t('teams.member') }), h('th', { scope: 'col', text: t('teams.role') }),
        manager ? h('th', { scope: 'col', class: 'actions', text: t('teams.actions') }) : null)),
      h('tbody', null, ms.map(function (m) {
        var who = m.name || m.email || m.userId || m.id;
        var self = state.me && m.userId === state.me.id;
        var mayTouch = manager && (m.role !== 'owner' || tm.role === 'owner');
        var roleCell = h('td', { testid: 'member-role', 'data-role': m.role, text: t('teams.role.' + m.role) });
        if (mayTouch) {
          roleCell.textContent = '';
          var opts = (tm.role === 'owner' ? ['owner', 'admin', 'member'] : ['admin', 'member']);
          var sel = h('select', { testid: 'member-role-select', 'aria-label': t('teams.roleOf', { name: who }) },
            opts.map(function (r) { return h('option', { value: r, text: t('teams.role.' + r), selected: r === m.role }); }));
          sel.value = m.role;
          sel.addEventListener('change', function () {
            err.hidden = true;
            api('PATCH', memberPath(m), { role: sel.value }).then(function () {
              toast(t('teams.roleChanged', { name: who, role: t('teams.role.' + sel.value) }));
              return refreshMe().then(reload);
            }, function (er) { sel.value = m.role; showError(err, er); });
          });
          roleCell.appendChild(sel);
        }
        var remove = (mayTouch || self) && !tm.personal ? h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', testid: 'member-remove',
          text: self ? t('teams.leave') : t('teams.remove'), onclick: function () {
            ask(t('teams.removeTitle', { name: who, team: tm.name }), self ? t('teams.leave') : t('teams.remove'), function () {
              err.hidden = true;
              return api('DELETE', memberPath(m)).then(function () {
                toast(t('teams.removed', { name: who }));
                if (self) { refreshMe().then(render); return; }
                reload();
              }, function (er) { showError(err, er); });
            });
          } }) : null;
        return h('tr', { testid: 'member', 'data-user': m.userId, 'data-self': self ? 'true' : 'false' },
          h('td', null, h('span', { text: who }), self ? h('span', { class: 'chip', text: t('teams.you') }) : null,
            m.name && m.email ? h('div', { class: 'small muted', text: m.email }) : null),
          roleCell,
          manager ? h('td', { class: 'actions' }, remove) : null);
      })))));
    if (!manager) return; // a personal team is its user's alone; members only read
    var role = h('select', { testid: 'invite-role' }, ['member', 'admin'].map(function (r) { return h('option', { value: r, text: t('teams.role.' + r) }); }));
    var out = h('div', { testid: 'invite-out' });
    var form = h('form', { class: 'invite-form', testid: 'invite-form' }, field('invite-role-' + tm.id, t('teams.inviteRole'), role),
      h('button', { type: 'submit', class: 'btn btn-sm', testid: 'invite-create', text: t('teams.invite') }));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      api('POST', '/api/teams/' + encodeURIComponent(tm.id) + '/invites', { role: role.value }).then(function (r) {
        out.textContent = '';
        var link = location.origin + '/console#/invite/' + encodeURIComponent(r.token);
        out.appendChild(h('p', { class: 'small', text: t('teams.inviteLink') }));
        out.appendChild(h('input', { type: 'text', readonly: true, class: 'mono', value: link, testid: 'invite-link', 'aria-label': t('teams.invites') }));
        drawInvites(box.querySelector('[data-testid="invites"]'), tm);
      }, function (er) { out.textContent = errorText(er); });
    });
    box.appendChild(form);
    box.appendChild(out);
    var invites = h('div', { testid: 'invites' });
    box.appendChild(invites);
    drawInvites(invites, tm);
    var keys = h('div', { class: 'team-keys', testid: 'team-keys' }, h('h3', { text: t('teams.keys') }), h('p', { class: 'small muted', text: t('teams.keysHint') }));
    box.appendChild(keys);
    keysSection(keys, '/api/teams/' + encodeURIComponent(tm.id) + '/keys', 'team-' + tm.id + '-');
  }

  // ask shows a modal question; ok runs when confirmed (a <dialog>, not
  // window.confirm: styled, translated, and keyboard-friendly).
  function ask(title, okText, ok) {
    var dlg = h('dialog', { class: 'dialog', testid: 'confirm-dialog', 'aria-labelledby': 'confirm-title' });
    var form = h('form', { class: 'dialog-body', method: 'dialog' },
      h('h2', { id: 'confirm-title', text: title }),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'btn btn-danger', testid: 'confirm-ok', text: okText }),
        h('button', { type: 'button', class: 'btn', testid: 'confirm-cancel', text: t('inst.cancel'), onclick: function () { dlg.close(); } })));
    form.addEventListener('submit', function (e) { e.preventDefault(); dlg.close(); ok(); });
    dlg.appendChild(form);
    dlg.addEventListener('close', function () { dlg.remove(); });
    document.body.appendChild(dlg);
    dlg.showModal();
  }

  function refreshMe() {
    return api('GET', '/api/me').then(function (me) { state.me = me; });
  }

  function drawInvites(box, tm) {
    api('GET', '/api/teams/' + encodeURIComponent(tm.id) + '/invites').then(function (list) {
      box.textContent = '';
      list = (list || []).filter(function (i) { return !i.revoked && i.usesLeft > 0; });
      if (!list.length) return;
      box.appendChild(h('h3', { text: t('teams.invites') }));
      box.appendChild(h('table', { class: 'data-table' },
        h('thead', null, h('tr', null, h('th', { scope: 'col', text: t('teams.inviteRole') }), h('th', { scope: 'col', text: t('teams.inviteUses') }),
          h('th', { scope: 'col', text: t('teams.inviteExpires') }), h('th', { scope: 'col' }))),
        h('tbody', null, list.map(function (i) {
          return h('tr', { testid: 'invite' }, h('td', { text: t('teams.role.' + i.role) }), h('td', { text: i.usesLeft + ' / ' + i.usesTotal }),
            h('td', { class: 'small', text: fmtTime(i.expiresAt) }),
            h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', testid: 'invite-revoke', text: t('teams.revoke'), onclick: function () {
              api('DELETE', '/api/teams/' + encodeURIComponent(tm.id) + '/invites/' + encodeURIComponent(i.id)).then(function () { drawInvites(box, tm); }, function (er) { toast(errorText(er), 'error'); });
            } })));
        }))));
    }, function () { /* members may not list invites */ });
  }

  function pageInvite(v, token) {
    v.appendChild(h('section', { class: 'card login-card', testid: 'invite-view' }, h('h1', { text: t('teams.acceptTitle') }),
      h('div', { id: 'invite-msg' }),
      h('button', { type: 'button', class: 'btn btn-primary', testid: 'invite-accept', text: t('teams.accept'), onclick: function () {
        api('POST', '/api/invites/accept', { token: token }).then(function (r) {
          return api('GET', '/api/me').then(function (me) { state.me = me; stopEvents(); startEvents(); toast(t('teams.accepted', { name: (r && (r.teamName || r.name)) || '' })); location.hash = '#/'; });
        }, function (er) { var m = document.getElementById('invite-msg'); m.textContent = ''; m.appendChild(alertBox('invite-error', errorText(er))); });
      } })));
  }

  // ---------- account ----------

  function section(title, testid) {
    return h('section', { class: 'card account-card', testid: testid, 'aria-label': title }, h('h2', { text: title }));
  }

  function pageAccount(v) {
    var me = state.me;
    v.appendChild(h('div', { class: 'view-head' }, h('h1', { text: t('account.title') })));
    var err = alertBox('account-error', '');
    v.appendChild(err);
    var prof = section(t('account.profile'), 'profile');
    var lang = h('select', { testid: 'account-lang' }, h('option', { value: 'en', text: 'English' }), h('option', { value: 'zh-CN', text: '简体中文' }));
    lang.value = state.lang;
    lang.addEventListener('change', function () { chooseLang(lang.value); });
    prof.appendChild(h('dl', { class: 'facts' },
      h('dt', { text: t('signin.name') }), h('dd', { text: me.name || '—' }),
      h('dt', { text: t('account.email') }), h('dd', { testid: 'account-email' }, me.email || '—', ' ',
        me.email ? h('span', { class: 'chip', text: me.emailVerified ? t('account.verified') : t('account.unverified') }) : null)));
    prof.appendChild(field('account-lang', t('account.language'), lang));
    v.appendChild(prof);

    var ids = section(t('account.identities'), 'identities');
    v.appendChild(ids);
    Promise.all([api('GET', '/api/me/identities'), loadProviders()]).then(function (r) {
      var list = Array.isArray(r[0]) ? r[0] : (r[0].identities || []);
      var tb = h('tbody');
      list.forEach(function (id) {
        tb.appendChild(h('tr', { testid: 'identity' },
          h('td', { text: id.provider === 'local' ? t('account.provider.local') : identityName(id.provider, r[1].providers) }),
          h('td', { class: 'mono', text: id.email || id.subject || '' }),
          h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', disabled: list.length < 2, text: t('account.unlink'), onclick: function () {
            api('DELETE', '/api/me/identities/' + encodeURIComponent(id.id)).then(render, function (er) { showError(err, er); });
          } }))));
      });
      ids.appendChild(h('table', { class: 'data-table' }, tb));
      var linkRow = h('div', { class: 'form-actions' });
      r[1].providers.forEach(function (p) {
        linkRow.appendChild(h('button', { type: 'button', class: 'btn btn-sm', testid: 'link-' + p.name, text: t('account.link', { name: providerName(p) }), onclick: function () {
          api('POST', '/api/me/identities', { provider: p.name, returnTo: '/console#/account' }).then(function (x) { location.href = x.redirect; }, function (er) { showError(err, er); });
        } }));
      });
      ids.appendChild(linkRow);
    }, function (er) { showError(err, er); });

    var ses = section(t('account.sessions'), 'sessions');
    v.appendChild(ses);
    api('GET', '/api/me/sessions').then(function (r) {
      var list = Array.isArray(r) ? r : (r.sessions || []);
      var tb = h('tbody');
      list.forEach(function (s) {
        tb.appendChild(h('tr', { testid: 'session', 'data-current': s.current ? 'true' : 'false' },
          h('td', null, h('span', { title: s.userAgent || '', text: deviceName(s.userAgent) }), s.current ? h('span', { class: 'chip', text: t('account.current') }) : null),
          h('td', { class: 'mono small', text: s.ip || s.address || '' }),
          h('td', { class: 'small', text: t('account.lastUsed') + ': ' + fmtTime(s.lastUsedAt || s.lastSeenAt || s.createdAt) }),
          h('td', { class: 'actions' }, s.current ? null : h('button', { type: 'button', class: 'btn btn-sm', testid: 'session-signout', text: t('account.signOutOne'), onclick: function () {
            api('DELETE', '/api/me/sessions/' + encodeURIComponent(s.id)).then(render, function (er) { showError(err, er); });
          } }))));
      });
      ses.appendChild(h('table', { class: 'data-table' }, tb));
      ses.appendChild(h('div', { class: 'form-actions' }, h('button', { type: 'button', class: 'btn btn-sm', testid: 'signout-all', text: t('account.signOutAll'), onclick: function () {
        api('POST', '/api/me/sessions/revoke-all').then(function (x) { toast(t('account.signedOutAll', { n: x.ended })); render(); }, function (er) { showError(err, er); });
      } })));
    }, function (er) { showError(err, er); });

    var keys = section(t('account.keys'), 'keys');
    v.appendChild(keys);
    keysSection(keys, '/api/me/keys', '');
  }

  // keysSection lists the API keys at base (the user's own, or a team's)
  // with a form to make one (scopes, expiry; its token shown once) and
  // revoke buttons. idp prefixes element ids, for several on one page.
  function keysSection(box, base, idp) {
    var list = h('div', { testid: 'key-list' });
    box.appendChild(list);
    var draw = function () {
      return api('GET', base).then(function (r) {
        var ks = (Array.isArray(r) ? r : (r.keys || [])).filter(function (k) { return !k.revoked; });
        list.textContent = '';
        if (!ks.length) return;
        list.appendChild(h('div', { class: 'table-card' }, h('table', { class: 'data-table' },
          h('thead', null, h('tr', null, h('th', { scope: 'col', text: t('account.keyName') }), h('th', { scope: 'col', text: t('account.scopes') }),
            h('th', { scope: 'col', text: t('account.keyExpiresAt') }), h('th', { scope: 'col', text: t('account.keyLastUsed') }), h('th', { scope: 'col', class: 'actions' }))),
          h('tbody', null, ks.map(function (k) {
            return h('tr', { testid: 'key', 'data-id': k.id }, h('td', { text: k.name }), h('td', { class: 'small mono', text: (k.scopes || []).join(', ') }),
              h('td', { class: 'small', text: fmtTime(k.expiresAt) }), h('td', { class: 'small', text: fmtTime(k.lastUsedAt) }),
              h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', testid: 'key-revoke', text: t('teams.revoke'), onclick: function () {
                api('DELETE', base + '/' + encodeURIComponent(k.id)).then(draw, function (er) { out.textContent = ''; out.appendChild(alertBox(idp + 'key-error', errorText(er))); });
              } })));
          })))));
      });
    };
    var out = h('div', { testid: 'key-out' });
    draw().then(function () {
      var name = h('input', { type: 'text', maxlength: '64', testid: 'key-name' });
      var scopes = h('fieldset', { class: 'scopes' }, h('legend', { class: 'label', text: t('account.scopes') }),
        ['tenants:read', 'tenants:write', 'tenants:open', 'teams:write'].map(function (sc, i) {
          var id = idp + 'scope-' + sc.replace(':', '-');
          return h('label', { class: 'check-row', for: id }, h('input', { type: 'checkbox', id: id, value: sc, checked: i === 0, testid: 'scope-' + sc.replace(':', '-') }),
            t('scope.' + sc), ' ', h('code', { class: 'small muted', text: sc }));
        }));
      var expiry = h('select', { testid: 'key-expiry' }, ['1', '30', '90', '365'].map(function (d) {
        return h('option', { value: d, text: t('account.keyExpiry.' + d), selected: d === '90' }); }));
      expiry.value = '90';
      var form = h('form', { class: 'key-form', testid: 'key-form' }, field(idp + 'key-name', t('account.keyName'), name), scopes,
        field(idp + 'key-expiry', t('account.keyExpires'), expiry),
        h('button', { type: 'submit', class: 'btn btn-sm', testid: 'key-create', text: t('account.createKey') }));
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        var chosen = [].slice.call(scopes.querySelectorAll('input:checked')).map(function (x) { return x.value; });
        api('POST', base, { name: name.value.trim(), scopes: chosen, expiresIn: Number(expiry.value) * 86400 }).then(function (k) {
          out.textContent = '';
          out.appendChild(h('p', { class: 'small', text: t('account.keyShown') }));
          out.appendChild(h('input', { type: 'text', readonly: true, class: 'mono', value: k.token, testid: 'key-token', 'aria-label': t('account.keys') }));
          name.value = '';
          draw();
        }, function (er) { out.textContent = ''; out.appendChild(alertBox(idp + 'key-error', errorText(er))); out.lastChild.setAttribute('data-testid', 'key-error'); });
      });
      box.appendChild(form);
      box.appendChild(out);
    }, function (er) {
      box.appendChild(h('p', { class: 'muted small', testid: 'keys-unavailable', text: er.code === 'no_endpoint' ? t('account.keysUnavailable') : errorText(er) }));
    });
  }

  // ---------- platform admin ----------

  // pageAdmin is the platform admins' area (#/admin/users, /teams,
  // /audit) on the admin API, which takes their console session. Tables
  // wrap long values (emails, ids, audit details) rather than scroll, so
  // the actions stay in view at 1280 px.
  function pageAdmin(v, arg) {
    var tab = arg === 'teams' || arg === 'audit' ? arg : 'users';
    v.appendChild(h('div', { class: 'view-head' },
      h('div', null, h('h1', { text: t('admin.title') }), h('p', { class: 'muted', text: t('admin.hint') })),
      h('div', { class: 'view-actions' }, h('a', { class: 'btn btn-sm', href: '/', testid: 'admin-dashboard', text: t('admin.dashboard') }))));
    if (!state.me.platformAdmin) { v.appendChild(alertBox('admin-error', t('admin.notAdmin'))); return; }
    v.appendChild(h('nav', { class: 'admin-tabs', 'aria-label': t('admin.title') }, ['users', 'teams', 'audit'].map(function (x) {
      return h('a', { href: '#/admin/' + x, class: 'admin-tab', testid: 'admin-tab-' + x, 'aria-current': x === tab ? 'page' : null, text: t('admin.' + x) });
    })));
    var err = alertBox('admin-error', '');
    v.appendChild(err);
    var box = h('div', { class: 'admin-body', testid: 'admin-' + tab });
    v.appendChild(box);
    ({ users: adminUsers, teams: adminTeams, audit: adminAudit })[tab](box, err);
  }

  function adminTable(cls, heads, rows) {
    return h('div', { class: 'card table-card admin-table-card' }, h('table', { class: 'data-table admin-table ' + cls },
      h('thead', null, h('tr', null, heads.map(function (x) { return h('th', { scope: 'col', class: x[1] || null, text: x[0] }); }))),
      h('tbody', null, rows)));
  }

  function adminUsers(box, err) {
    var q = h('input', { type: 'search', placeholder: t('admin.searchUsers'), testid: 'admin-user-search' });
    var list = h('div');
    box.appendChild(h('div', { class: 'logs-toolbar' }, field('admin-user-search', t('admin.search'), q)));
    box.appendChild(list);
    var users = [];
    function change(u, body) {
      err.hidden = true;
      api('PATCH', '/api/admin/users/' + encodeURIComponent(u.id), body).then(function () {
        toast(t('admin.userChanged', { name: u.name || u.email }));
        load();
      }, function (er) { showError(err, er); });
    }
    function draw() {
      var needle = q.value.trim().toLowerCase();
      var shown = users.filter(function (u) { return !needle || (u.name + ' ' + u.email + ' ' + u.id).toLowerCase().indexOf(needle) >= 0; });
      list.textContent = '';
      if (!shown.length) { list.appendChild(h('p', { class: 'muted', testid: 'admin-users-empty', text: t('admin.noUsers') })); return; }
      list.appendChild(adminTable('admin-users', [[t('admin.name')], [t('admin.email')], [t('admin.status')], [t('admin.created')], [t('admin.lastSignIn')], [t('admin.actions'), 'actions']],
        shown.map(function (u) {
          var self = u.id === state.me.id;
          return h('tr', { testid: 'admin-user', 'data-id': u.id, 'data-admin': u.platformAdmin ? 'true' : 'false', 'data-disabled': u.disabled ? 'true' : 'false' },
            h('td', { class: 'wrap' }, h('div', { text: u.name || '—' }), h('div', { class: 'small muted mono', text: u.id })),
            h('td', { class: 'wrap mono small', text: u.email || '—' }),
            h('td', null, u.platformAdmin ? h('span', { class: 'chip chip-admin', text: t('admin.isAdmin') }) : null,
              h('span', { class: 'chip' + (u.disabled ? ' chip-off' : ''), text: u.disabled ? t('admin.disabled') : t('admin.active') })),
            h('td', { class: 'small', text: fmtTime(u.createdAt) }),
            h('td', { class: 'small', text: fmtTime(u.lastSignInAt) }),
            h('td', { class: 'actions' },
              h('button', { type: 'button', class: 'btn btn-sm', testid: 'admin-toggle-admin', disabled: self, text: u.platformAdmin ? t('admin.dropAdmin') : t('admin.makeAdmin'),
                onclick: function () { change(u, { platformAdmin: !u.platformAdmin }); } }),
              ' ',
              h('button', { type: 'button', class: 'btn btn-sm ' + (u.disabled ? '' : 'btn-danger-ghost'), testid: 'admin-toggle-disabled', disabled: self, text: u.disabled ? t('admin.enable') : t('admin.disable'),
                onclick: function () {
                  if (u.disabled) { change(u, { disabled: false }); return; }
                  ask(t('admin.disableTitle', { name: u.name || u.email }), t('admin.disable'), function () { change(u, { disabled: true }); });
                } })));
        })));
    }
    function load() {
      api('GET', '/api/admin/users').then(function (r) { users = (r && r.users) || []; draw(); }, function (er) { showError(err, er); });
    }
    q.addEventListener('input', draw);
    load();
  }

  function adminTeams(box, err) {
    api('GET', '/api/admin/teams').then(function (ts) {
      ts = ts || [];
      box.appendChild(adminTable('admin-teams', [[t('admin.name')], [t('admin.members'), 'num'], [t('admin.tenants'), 'num'], [t('admin.created')], [t('admin.actions'), 'actions']],
        ts.map(function (tm) {
          var row = h('tr', { testid: 'admin-team', 'data-id': tm.id },
            h('td', { class: 'wrap' }, h('div', null, h('span', { text: tm.name }), tm.personal ? h('span', { class: 'chip', text: t('admin.personal') }) : null),
              h('div', { class: 'small muted mono', text: tm.id })),
            h('td', { class: 'num', text: String(tm.members) }),
            h('td', { class: 'num', text: String(tm.tenants) }),
            h('td', { class: 'small', text: fmtTime(tm.createdAt) }),
            h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-sm', testid: 'admin-team-members', 'aria-expanded': 'false', text: t('admin.showMembers'), onclick: function (e) {
              var b = e.currentTarget;
              var next = row.nextSibling;
              if (next && next.getAttribute('data-testid') === 'admin-team-detail') { next.remove(); b.setAttribute('aria-expanded', 'false'); b.textContent = t('admin.showMembers'); return; }
              b.setAttribute('aria-expanded', 'true');
              b.textContent = t('admin.hideMembers');
              var cell = h('td', { colspan: '5' }, h('p', { class: 'muted small', text: t('common.loading') }));
              row.parentNode.insertBefore(h('tr', { testid: 'admin-team-detail', class: 'detail-row' }, cell), row.nextSibling);
              api('GET', '/api/teams/' + encodeURIComponent(tm.id) + '/members').then(function (ms) {
                cell.textContent = '';
                cell.appendChild(h('ul', { class: 'member-list' }, (ms || []).map(function (m) {
                  return h('li', { testid: 'admin-team-member' }, h('strong', { text: m.name || m.email || m.userId }), ' ',
                    h('span', { class: 'muted mono small', text: m.email }), h('span', { class: 'chip', text: t('teams.role.' + m.role) }));
                })));
              }, function (er) { cell.textContent = errorText(er); });
            } })));
          return row;
        })));
    }, function (er) { showError(err, er); });
  }

  var AUDIT_PAGE = 50;

  function adminAudit(box, err) {
    var f = { actor: h('input', { type: 'search', placeholder: t('admin.actorHint'), testid: 'audit-actor' }),
      action: h('input', { type: 'search', placeholder: t('admin.actionHint'), testid: 'audit-action' }),
      target: h('input', { type: 'search', placeholder: t('admin.targetHint'), testid: 'audit-target' }) };
    var pages = [0]; // the "before" of each page shown so far (0: the newest)
    var list = h('div', { testid: 'audit-list' });
    var pageNo = h('span', { class: 'small muted', testid: 'audit-page' });
    var newest = h('button', { type: 'button', class: 'btn btn-sm', testid: 'audit-newest', text: t('admin.newest'), onclick: function () { pages = [0]; load(); } });
    var older = h('button', { type: 'button', class: 'btn btn-sm', testid: 'audit-older', text: t('admin.older') });
    var form = h('form', { class: 'logs-toolbar audit-filters', testid: 'audit-filter' },
      field('audit-actor', t('admin.actor'), f.actor), field('audit-action', t('admin.action'), f.action), field('audit-target', t('admin.target'), f.target),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-sm btn-primary', testid: 'audit-apply', text: t('admin.filter') }),
        h('button', { type: 'button', class: 'btn btn-sm', testid: 'audit-clear', text: t('admin.clear'), onclick: function () {
          f.actor.value = f.action.value = f.target.value = ''; pages = [0]; load();
        } })));
    form.addEventListener('submit', function (e) { e.preventDefault(); pages = [0]; load(); });
    box.appendChild(form);
    box.appendChild(list);
    box.appendChild(h('div', { class: 'form-actions pager' }, newest, older, pageNo));
    var last = [];
    older.addEventListener('click', function () { if (last.length) { pages.push(last[last.length - 1].id); load(); } });
    function load() {
      var qs = ['limit=' + AUDIT_PAGE];
      ['actor', 'action', 'target'].forEach(function (k) { var x = f[k].value.trim(); if (x) qs.push(k + '=' + encodeURIComponent(x)); });
      var before = pages[pages.length - 1];
      if (before) qs.push('before=' + before);
      err.hidden = true;
      api('GET', '/api/admin/audit?' + qs.join('&')).then(function (es) {
        last = es || [];
        list.textContent = '';
        pageNo.textContent = t('admin.page', { n: pages.length });
        newest.disabled = pages.length === 1;
        older.disabled = last.length < AUDIT_PAGE;
        if (!last.length) { list.appendChild(h('p', { class: 'muted', testid: 'audit-empty', text: t('admin.noEvents') })); return; }
        list.appendChild(adminTable('admin-audit', [[t('admin.id'), 'num col-id'], [t('admin.time'), 'col-time'], [t('admin.actor'), 'col-actor'], [t('admin.action'), 'col-action'], [t('admin.target'), 'col-target'], [t('admin.detail')]],
          last.map(function (e) {
            return h('tr', { testid: 'audit-event', 'data-id': String(e.id), 'data-action': e.action },
              h('td', { class: 'num small', text: String(e.id) }), h('td', { class: 'small', text: fmtTime(e.at) }),
              h('td', { class: 'wrap mono small', text: e.actor }), h('td', { class: 'wrap mono small', text: e.action }),
              h('td', { class: 'wrap mono small', text: e.target || '' }), h('td', { class: 'wrap small', text: e.detail || '' }));
          })));
      }, function (er) { showError(err, er); });
    }
    load();
  }

  function chooseLang(l) {
    setLang(l, true);
    if (state.me) api('PATCH', '/api/me', { lang: l }).then(function (me) { state.me = me; }, function () {});
  }

  // ---------- start ----------

  function signOut() {
    api('POST', '/auth/signout').then(done, done);
    function done() { stopEvents(); state.me = null; location.hash = '#/signin'; render(); }
  }

  function start() {
    state.lang = pickLang();
    applyStatic();
    document.getElementById('lang-select').addEventListener('change', function (e) { chooseLang(e.target.value); });
    document.getElementById('signout-button').addEventListener('click', signOut);
    window.addEventListener('hashchange', render);
    api('GET', '/api/me').then(function (me) {
      state.me = me;
      if (returnTo) { location.replace(returnTo); return; }
      if (me.lang && !localStorageLang()) setLangQuiet(me.lang);
      startEvents();
      var after = sessionStorageTake('clawfleet.console.after');
      if (after && after !== location.hash) { location.hash = after; return; }
      render();
    }, function (er) {
      if (er.code !== 'not_signed_in') sessionStorageSet('clawfleet.console.error', errorText(er));
      render();
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
