package router

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// pageError is an answer the router gives itself: a branded page for
// browsers, JSON for everything else.
type pageError struct {
	status     int
	code       string
	retryAfter int // seconds; 0 = no Retry-After
	en, zh     message
	// reason, when set, is why (a failed gateway's last error, as its
	// host reported it; in English): shown below the text, and as
	// "reason" in JSON. Only answers given after the owner check carry it.
	reason string
}

// because returns a copy of e carrying reason (e itself when it is empty).
func (e *pageError) because(reason string) *pageError {
	if reason == "" {
		return e
	}
	c := *e
	c.reason = reason
	return &c
}

type message struct{ title, text string }

var (
	errNotRouted = &pageError{status: http.StatusNotFound, code: "not_routed",
		en: message{"Not found", "This address is not a clawfleet gateway."},
		zh: message{"未找到", "此地址不是 clawfleet 网关。"}}
	errUnknown = &pageError{status: http.StatusNotFound, code: "unknown_gateway",
		en: message{"No such gateway", "There is no gateway at this address. Check the link in your console."},
		zh: message{"网关不存在", "此地址没有网关。请检查控制台中的链接。"}}
	errLoginRequired = &pageError{status: http.StatusUnauthorized, code: "login_required",
		en: message{"Sign in first", "Open your gateway from the console: it gives you a fresh link that signs you in."},
		zh: message{"请先登录", "请从控制台打开您的网关：控制台会给出一个可直接登录的新链接。"}}
	errBadLink = &pageError{status: http.StatusUnauthorized, code: "invalid_link",
		en: message{"This link is no longer valid", "Access links work once and for about a minute. Open your gateway from the console again."},
		zh: message{"链接已失效", "访问链接只能使用一次，有效期约一分钟。请从控制台重新打开您的网关。"}}
	errBadToken = &pageError{status: http.StatusUnauthorized, code: "invalid_token",
		en: message{"Token refused", "The bearer token was not accepted: it is expired, malformed or not from this cloud's sign-on. Get a fresh one and try again."},
		zh: message{"令牌无效", "未接受该 Bearer 令牌：它已过期、格式错误或并非由本云的单点登录签发。请获取新令牌后重试。"}}
	errForbidden = &pageError{status: http.StatusForbidden, code: "forbidden",
		en: message{"Not your gateway", "You are signed in, but this gateway belongs to someone else."},
		zh: message{"无权访问", "您已登录，但此网关属于其他用户。"}}
	errCrossSite = &pageError{status: http.StatusForbidden, code: "cross_site",
		en: message{"Request from another site refused", "A page on another site tried to change something in this gateway. Open the gateway itself and try again."},
		zh: message{"已拒绝来自其他站点的请求", "其他站点的页面试图修改此网关中的内容。请直接打开网关后重试。"}}
	errRateLimited = &pageError{status: http.StatusTooManyRequests, code: "rate_limited", retryAfter: 5,
		en: message{"Too many attempts", "Too many failed sign-ins from your address. Wait a moment and try again."},
		zh: message{"尝试次数过多", "您的地址登录失败次数过多，请稍后再试。"}}
	errTooManySockets = &pageError{status: http.StatusTooManyRequests, code: "too_many_connections", retryAfter: 5,
		en: message{"Too many open connections", "This gateway already has the most live connections (WebSockets) allowed. Close it in another tab or window and try again."},
		zh: message{"打开的连接过多", "此网关的实时连接（WebSocket）已达上限。请在其他标签页或窗口中关闭它后重试。"}}
	errStopped = &pageError{status: http.StatusServiceUnavailable, code: "gateway_stopped", retryAfter: 60,
		en: message{"Gateway stopped", "This gateway is stopped. Start it from the console."},
		zh: message{"网关已停止", "此网关已停止运行。请在控制台中启动它。"}}
	errStarting = &pageError{status: http.StatusServiceUnavailable, code: "gateway_starting", retryAfter: 5,
		en: message{"Gateway starting", "This gateway is starting. The page reloads in a few seconds."},
		zh: message{"网关启动中", "此网关正在启动，页面将在几秒后自动刷新。"}}
	errFailed = &pageError{status: http.StatusServiceUnavailable, code: "gateway_failed", retryAfter: 30,
		en: message{"Gateway failed", "This gateway could not start. Restart it from the console, or contact support if it keeps failing."},
		zh: message{"网关故障", "此网关无法启动。请在控制台中重启；如果问题持续，请联系支持。"}}
	errHostOffline = &pageError{status: http.StatusServiceUnavailable, code: "host_offline", retryAfter: 15,
		en: message{"Gateway host offline", "The machine this gateway runs on is not connected right now. It comes back by itself once the machine is online."},
		zh: message{"网关主机离线", "运行此网关的机器当前未连接。机器恢复在线后网关会自动恢复。"}}
	errUnreachable = &pageError{status: http.StatusBadGateway, code: "gateway_unreachable", retryAfter: 10,
		en: message{"Gateway not reachable", "The gateway did not answer through its tunnel. Retrying in a few seconds usually helps."},
		zh: message{"无法连接网关", "网关没有通过隧道响应。通常几秒后重试即可。"}}
	errInternal = &pageError{status: http.StatusInternalServerError, code: "internal", retryAfter: 5,
		en: message{"Something went wrong", "The cloud could not handle this request. Try again shortly."},
		zh: message{"出错了", "云端无法处理此请求，请稍后重试。"}}
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<title>{{.Title}} · clawfleet</title>
<style>
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#0f172a;color:#e2e8f0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif}
main{max-width:32rem;padding:2rem;text-align:center}
.brand{letter-spacing:.08em;text-transform:uppercase;font-size:.8rem;color:#94a3b8}
h1{font-size:1.6rem;margin:.5rem 0 1rem}
.reason{font-size:.9rem;color:#cbd5e1;text-align:left;overflow-wrap:anywhere}
.code{margin-top:1.5rem;font:.8rem ui-monospace,monospace;color:#64748b}
</style></head>
<body><main>
<div class="brand">🦞 clawfleet</div>
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{if .Reason}}<p class="reason">{{.ReasonLabel}}{{.Reason}}</p>{{end}}
<div class="code">{{.Status}} · {{.Code}}</div>
</main></body></html>
`))

// fail answers with e: JSON unless the client asks for HTML.
func (r *Router) fail(w http.ResponseWriter, req *http.Request, e *pageError) {
	r.requests.WithLabelValues(e.code).Inc()
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if e == errBadToken {
		h.Set("WWW-Authenticate", `Bearer realm="clawfleet", error="invalid_token"`)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	m, lang := e.en, "en"
	if PrefersChinese(req.Header.Get("Accept-Language")) {
		m, lang = e.zh, "zh-CN"
	}
	if !strings.Contains(req.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(e.status)
		body := map[string]any{"error": m.text, "code": e.code, "retryAfter": e.retryAfter}
		if e.reason != "" {
			body["reason"] = e.reason
		}
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Content-Language", lang)
	w.WriteHeader(e.status)
	refresh := 0
	if e.status == http.StatusServiceUnavailable || e.status == http.StatusBadGateway {
		refresh = e.retryAfter
	}
	reasonLabel := "Reason: "
	if lang == "zh-CN" {
		reasonLabel = "原因："
	}
	_ = pageTmpl.Execute(w, map[string]any{"Lang": lang, "Title": m.title, "Text": m.text, "Status": e.status, "Code": e.code, "Refresh": refresh,
		"Reason": e.reason, "ReasonLabel": reasonLabel})
}

// PrefersChinese reports whether Chinese ranks above English in an
// Accept-Language header (first listed wins at equal weight).
func PrefersChinese(al string) bool {
	bestZh, bestEn := -1.0, -1.0
	for i, part := range strings.Split(al, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		q -= float64(i) * 1e-6 // order breaks ties
		tag = strings.ToLower(tag)
		switch {
		case strings.HasPrefix(tag, "zh") && q > bestZh:
			bestZh = q
		case strings.HasPrefix(tag, "en") && q > bestEn:
			bestEn = q
		}
	}
	return bestZh > 0 && bestZh > bestEn
}
