package api

// Claim routes. A signed-in user (requireUser: the SSO web app's shared
// secret and X-User-*, or a bearer token) claims a box with the code on its
// label and releases it; the claim page the label's QR code opens explains
// the same:
//
//	GET    /api/claims            → 200 [userBox, ...] (yours and your teams', with your role)
//	POST   /api/claims            {"deviceId","claimCode","teamId"?} → 201 {"box","tenant","instanceError"?} (200 when already yours)
//	DELETE /api/claims/:deviceId  → 200 box (unclaimed; its instance deleted with its data)
//	GET    /claim?d=<deviceId>&c=<claimCode>  → the claim page (en, zh-CN)
//
// An operator (admin token) sees every box and resets or reprints one:
//
//	GET    /api/admin/boxes                 → 200 [box, ...]
//	GET    /api/admin/boxes/:id             → 200 box
//	POST   /api/admin/boxes/:id/reset       {"freshCode":bool}? → 200 {"box","claimCode"?,"claimUrl"?,"labelPng"?}
//	POST   /api/admin/boxes/:id/reprint     → 200 {"box","claimCode","claimUrl","labelPng"}
//
// labelPng is the new label, base64 PNG: the cloud keeps only the code's
// hash, so this answer is the one chance to print it.

import (
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/clawfleet/clawfleet/cloud/claim"
	"github.com/clawfleet/clawfleet/cloud/router"
	"github.com/clawfleet/clawfleet/pkg/creds"
	"github.com/clawfleet/clawfleet/pkg/proto"
	"github.com/clawfleet/clawfleet/provisioning"
	"github.com/gin-gonic/gin"
)

// claimRoutes registers the claim routes; requireUser authenticates users.
func (ta *tenantAPI) claimRoutes(r *gin.Engine, admin *gin.RouterGroup) {
	user := r.Group("/api/claims", ta.requireUser)
	if ta.teams != nil {
		user.Use(ta.resolveTeams) // a claim for a team needs the actor's role in it
	}
	user.GET("", ta.myBoxes)
	user.POST("", ta.claim)
	user.DELETE("/:deviceId", ta.release)
	r.GET("/claim", ta.claimPage)

	admin.GET("/admin/boxes", ta.listBoxes)
	admin.GET("/admin/boxes/:id", ta.getBox)
	admin.POST("/admin/boxes/:id/reset", ta.resetBox)
	admin.POST("/admin/boxes/:id/reprint", ta.reprintBox)
}

type claimAnswer struct {
	Box           claim.Box `json:"box"`
	Tenant        any       `json:"tenant,omitempty"`
	InstanceError string    `json:"instanceError,omitempty"`
}

func (ta *tenantAPI) claim(c *gin.Context) {
	var req claim.Request
	if !ta.bindJSON(c, &req) {
		return
	}
	res, err := ta.opts.Claims.Claim(c.Request.Context(), actorOf(c), ta.clientIP(c.Request), req)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	out := claimAnswer{Box: claim.OwnerView(res.Box), InstanceError: res.InstanceError}
	if res.Tenant != nil {
		out.Tenant = ta.view(res.Tenant)
	}
	code := http.StatusCreated
	if res.Already {
		code = http.StatusOK
	}
	c.JSON(code, out)
}

func (ta *tenantAPI) myBoxes(c *gin.Context) {
	bs, err := ta.opts.Claims.Mine(c.Request.Context(), actorOf(c))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, bs)
}

func (ta *tenantAPI) release(c *gin.Context) {
	b, err := ta.opts.Claims.Release(c.Request.Context(), actorOf(c), c.Param("deviceId"))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, claim.OwnerView(*b))
}

func (ta *tenantAPI) listBoxes(c *gin.Context) {
	bs, err := ta.opts.Claims.List(c.Request.Context())
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, bs)
}

func (ta *tenantAPI) getBox(c *gin.Context) {
	b, err := ta.opts.Claims.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, b)
}

// newCode is a reset's or reprint's answer: the box and, when it got one,
// its new code with its label.
type newCode struct {
	Box       claim.Box `json:"box"`
	ClaimCode string    `json:"claimCode,omitempty"`
	ClaimURL  string    `json:"claimUrl,omitempty"`
	LabelPNG  string    `json:"labelPng,omitempty"`
}

func (ta *tenantAPI) withLabel(c *gin.Context, b *claim.Box, code string) {
	out := newCode{Box: *b}
	if code != "" {
		out.ClaimCode = code
		out.ClaimURL = creds.ClaimURL(ta.opts.CloudURL(c.Request), b.DeviceID, code)
		png, err := provisioning.LabelPNG(provisioning.Label{Model: b.Model, DeviceID: b.DeviceID, ClaimCode: code, ClaimURL: out.ClaimURL})
		if err != nil {
			// The code is issued already: answer it, so it is not lost.
			ta.log.Error("rendering a reprinted label failed", "device", b.DeviceID, "err", err)
		} else {
			out.LabelPNG = base64.StdEncoding.EncodeToString(png)
		}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func (ta *tenantAPI) resetBox(c *gin.Context) {
	var req struct {
		FreshCode bool `json:"freshCode"`
	}
	if c.Request.ContentLength != 0 && !ta.bindJSON(c, &req) {
		return
	}
	b, code, err := ta.opts.Claims.Reset(c.Request.Context(), actorOf(c), c.Param("id"), req.FreshCode)
	if err != nil {
		ta.failErr(c, err)
		return
	}
	ta.withLabel(c, b, code)
}

func (ta *tenantAPI) reprintBox(c *gin.Context) {
	b, code, err := ta.opts.Claims.Reprint(c.Request.Context(), actorOf(c), c.Param("id"))
	if err != nil {
		ta.failErr(c, err)
		return
	}
	ta.withLabel(c, b, code)
}

// claimText is the claim page's text in each language.
var claimText = map[string]map[string]string{
	"en": {
		"title":      "Claim your OpenClaw box",
		"device":     "Device",
		"code":       "Claim code",
		"confirm":    "Claim this box",
		"confirmAsk": "Claiming binds this box to your account: your OpenClaw starts on it and is reachable at your own address. Nobody else can claim it until you release it.",
		"signin":     "You need to be signed in to claim a box. Sign in, then open this page again (scan the label once more).",
		"api":        "Or claim it with the API, as a signed-in user:",
		"bad":        "This link is not a box's claim link: scan the QR code on the box's label again, or type the device ID and the claim code from the label.",
		"busy":       "Claiming…",
		"done":       "Done: the box is yours. Your OpenClaw is starting on it.",
		"already":    "This box is already yours.",
		"claimed":    "This box already belongs to someone else. If you bought it, ask the seller or support to reset it.",
		"wrong":      "The claim code does not match this device. Check the code on the label.",
		"rate":       "Too many attempts. Wait a minute and try again.",
		"failed":     "The claim failed:",
	},
	"zh-CN": {
		"title":      "认领你的 OpenClaw 盒子",
		"device":     "设备",
		"code":       "认领码",
		"confirm":    "认领此盒子",
		"confirmAsk": "认领后此盒子将绑定到你的账户：你的 OpenClaw 会在盒子上启动，并可通过你自己的地址访问。在你释放之前，其他人无法认领它。",
		"signin":     "认领盒子需要先登录。请登录后重新打开此页面（再扫描一次标签）。",
		"api":        "也可以以已登录用户的身份通过 API 认领：",
		"bad":        "此链接不是盒子的认领链接：请重新扫描盒子标签上的二维码，或输入标签上的设备 ID 和认领码。",
		"busy":       "正在认领…",
		"done":       "完成：此盒子已属于你。你的 OpenClaw 正在盒子上启动。",
		"already":    "此盒子已经属于你。",
		"claimed":    "此盒子已属于其他人。如果是你购买的，请联系卖家或客服将其重置。",
		"wrong":      "认领码与此设备不符。请核对标签上的认领码。",
		"rate":       "尝试次数过多。请等待一分钟后重试。",
		"failed":     "认领失败：",
	},
}

var claimPageTmpl = template.Must(template.New("claim").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.T.title}}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/claim.css">
<script src="/assets/claim.js" defer></script>
</head>
<body><main class="card">
<h1>{{.T.title}}</h1>
{{if .OK}}
<dl>
<dt>{{.T.device}}</dt><dd id="device" data-testid="device">{{.Device}}</dd>
<dt>{{.T.code}}</dt><dd id="code" data-testid="code">{{.Code}}</dd>
</dl>
<p>{{.T.confirmAsk}}</p>
<form id="claim-form" data-device="{{.Device}}" data-code="{{.Code}}"
 data-busy="{{.T.busy}}" data-done="{{.T.done}}" data-already="{{.T.already}}" data-signin="{{.T.signin}}"
 data-claimed="{{.T.claimed}}" data-wrong="{{.T.wrong}}" data-rate="{{.T.rate}}" data-failed="{{.T.failed}}">
<button type="submit" id="confirm" data-testid="confirm">{{.T.confirm}}</button>
</form>
<p id="result" data-testid="result" role="status" aria-live="polite"></p>
<p class="hint">{{.T.signin}}</p>
<p class="hint">{{.T.api}}</p>
<pre data-testid="api">curl -X POST {{.Cloud}}/api/claims \
  -H 'Authorization: Bearer &lt;token&gt;' -H 'Content-Type: application/json' \
  -d '{"deviceId":"{{.Device}}","claimCode":"{{.Code}}"}'</pre>
{{else}}
<p id="result" data-testid="result">{{.T.bad}}</p>
{{end}}
</main></body></html>
`))

// claimPage is the page a box label's QR code opens. It shows the device
// and its code from the link and, on confirmation, claims the box as the
// signed-in user; it checks nothing itself, so it tells nobody whether a
// device exists.
func (ta *tenantAPI) claimPage(c *gin.Context) {
	lang := "en"
	if l := c.Query("lang"); l == "zh-CN" || (l == "" && router.PrefersChinese(c.GetHeader("Accept-Language"))) {
		lang = "zh-CN"
	}
	device := c.Query("d")
	code, err := creds.NormalizeClaimCode(c.Query("c"))
	ok := err == nil && proto.ValidateDeviceID(device) == nil
	pageHeaders(c)
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Language", lang)
	c.Header("Content-Type", "text/html; charset=utf-8")
	status := http.StatusOK
	if !ok {
		status = http.StatusBadRequest
		device, code = "", ""
	}
	c.Status(status)
	_ = claimPageTmpl.Execute(c.Writer, map[string]any{"Lang": lang, "T": claimText[lang], "OK": ok, "Device": device, "Code": code,
		"Cloud": ta.opts.CloudURL(c.Request)})
}
