package pairing

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/text/language"

	"github.com/clawfleet/clawfleet/agent/i18n"
)

// messages are the portal's and the local page's texts. %s stands for an
// SSID or a URL; the page's script fills them in as text, never as HTML.
// Every entry has both languages with the same verbs (checked by a test).
var messages = map[string]i18n.Message{
	"title.setup":  {En: "Set up your OpenClaw box", Zh: "设置你的 OpenClaw 盒子"},
	"title.status": {En: "OpenClaw box", Zh: "OpenClaw 盒子"},
	"intro":        {En: "Choose the Wi-Fi network the box should use and enter its password.", Zh: "选择盒子要使用的 Wi-Fi 网络，并输入密码。"},
	"networks":     {En: "Wi-Fi networks", Zh: "Wi-Fi 网络"},
	"rescan":       {En: "Scan again", Zh: "重新扫描"},
	"rescan.note":  {En: "While the box scans, its hotspot %s is off for about 15 seconds. Your phone should rejoin it by itself; if not, join %s again.", Zh: "盒子扫描期间，它的热点 %s 会关闭约 15 秒。手机通常会自动重新连接；如果没有，请再次连接 %s。"},
	"scanning":     {En: "Scanning for networks…", Zh: "正在扫描网络…"},
	"none":         {En: "No networks found. Move the box closer to your router, then scan again.", Zh: "未找到网络。请把盒子移近路由器，然后重新扫描。"},
	"open":         {En: "open", Zh: "无密码"},
	"unsupported":  {En: "needs more than a password", Zh: "不支持（需要密码以外的认证）"},
	"password":     {En: "Password", Zh: "密码"},
	"show":         {En: "Show password", Zh: "显示密码"},
	"join":         {En: "Join", Zh: "连接"},
	"cancel":       {En: "Cancel", Zh: "取消"},
	"err.password": {En: "A Wi-Fi password has 8 to 63 characters.", Zh: "Wi-Fi 密码为 8 到 63 个字符。"},
	"err.pick":     {En: "Choose a network from the list.", Zh: "请从列表中选择一个网络。"},
	"err.request":  {En: "The box did not understand that; reload the page and try again.", Zh: "盒子无法处理该请求；请刷新页面后重试。"},
	"err.busy":     {En: "The box is busy; wait a moment and try again.", Zh: "盒子正忙，请稍候再试。"},
	"err.notSetup": {En: "Wi-Fi can only be set up on the box's own hotspot.", Zh: "只能在盒子自己的热点上设置 Wi-Fi。"},
	"err.network":  {En: "The box does not answer. Check that this phone is still on %s.", Zh: "盒子没有响应。请确认手机仍连接着 %s。"},
	"joining":      {En: "Joining %s…", Zh: "正在连接 %s…"},
	"joining.now":  {En: "The box is switching its hotspot %s off and joining %s. This phone will lose the hotspot now.", Zh: "盒子正在关闭热点 %s 并连接 %s。手机现在会断开这个热点。"},
	"next.ok":      {En: "If it works: rejoin %s on this phone, then scan the code below or open the link to claim your box.", Zh: "如果连接成功：请让手机重新连接 %s，然后扫描下面的二维码或打开链接来认领你的盒子。"},
	"next.fail":    {En: "If the hotspot %s comes back within two minutes, the box could not join: connect to it again and this page will tell you why.", Zh: "如果两分钟内热点 %s 重新出现，说明盒子未能连接：请再次连接该热点，本页会告诉你原因。"},
	"lost":         {En: "The box has left its hotspot. Follow the steps above.", Zh: "盒子已关闭热点。请按上面的步骤操作。"},
	"joined":       {En: "The box is connected to %s.", Zh: "盒子已连接到 %s。"},
	"online":       {En: "The box is online.", Zh: "盒子已联网。"},
	"offline":      {En: "The box has no network; its setup hotspot is %s.", Zh: "盒子没有网络；它的设置热点是 %s。"},
	"starting":     {En: "The box is looking for a network…", Zh: "盒子正在查找网络…"},
	"claimed":      {En: "This box has been claimed by its owner.", Zh: "此盒子已被其主人认领。"},
	"claim.title":  {En: "Claim your box", Zh: "认领你的盒子"},
	"claim.scan":   {En: "Scan this code with your phone's camera, or open:", Zh: "用手机相机扫描此二维码，或打开："},
	"claim.nourl":  {En: "Sign in to your OpenClaw account and enter this claim code.", Zh: "登录你的 OpenClaw 账号并输入此认领码。"},
	"claim.code":   {En: "Claim code", Zh: "认领码"},
	"claim.device": {En: "Device ID", Zh: "设备 ID"},
	"claim.none":   {En: "This box has no claim code; ask your administrator to add it.", Zh: "此盒子没有认领码；请联系管理员。"},
	"reason.wrong-password": {En: "The box could not join %s: the password was not accepted. Check it (capital letters count) and try again.",
		Zh: "盒子未能连接 %s：密码不正确。请检查密码（区分大小写）后重试。"},
	"reason.not-found": {En: "The box could not find %s any more. Move it closer to the router and scan again.",
		Zh: "盒子找不到 %s 了。请把盒子移近路由器并重新扫描。"},
	"reason.timeout": {En: "%s did not answer in time. Move the box closer to the router, check the password and try again.",
		Zh: "%s 没有及时响应。请把盒子移近路由器，检查密码后重试。"},
	"reason.no-address": {En: "The box joined %s, but the router gave it no address. Restart the router or choose another network.",
		Zh: "盒子已连上 %s，但路由器没有分配地址。请重启路由器或选择其他网络。"},
	"reason.unsupported": {En: "The box cannot join %s: it needs more than a password (enterprise or WEP).",
		Zh: "盒子无法连接 %s：该网络需要密码以外的认证（企业级或 WEP）。"},
	"reason.failed": {En: "The box could not join %s. Try again, or choose another network.",
		Zh: "盒子未能连接 %s。请重试或选择其他网络。"},
}

// lang is the page language: i18n's, with the HTML tag.
type lang struct{ i18n.Lang }

func (l lang) Tag() string {
	if l.Lang == i18n.Zh {
		return "zh-CN"
	}
	return "en"
}

// t returns the message in l, formatted with args.
func (l lang) t(key string, args ...any) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	s := m.En
	if l.Lang == i18n.Zh {
		s = m.Zh
	}
	// As many arguments as the text has verbs, so a caller may offer an
	// SSID to a message that does not name it.
	n := strings.Count(s, "%s")
	if n == 0 {
		return s
	}
	for len(args) < n {
		args = append(args, "")
	}
	return fmt.Sprintf(s, args[:n]...)
}

// dict is every message in l, for the page's script.
func (l lang) dict() map[string]string {
	d := make(map[string]string, len(messages))
	for k, m := range messages {
		d[k] = m.En
		if l.Lang == i18n.Zh {
			d[k] = m.Zh
		}
	}
	return d
}

const langCookie = "lang"

// pickLang chooses the page language: ?lang= (remembered in a cookie),
// else the cookie, else the first of Accept-Language's languages (by
// quality) that is English or any Chinese, else English. Traditional
// Chinese readers get Simplified rather than English.
func pickLang(w http.ResponseWriter, r *http.Request) lang {
	if q := r.URL.Query().Get("lang"); q != "" {
		l := parseLang(q)
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l.Tag(), Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil {
		return parseLang(c.Value)
	}
	header := r.Header.Get("Accept-Language")
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil {
		// Malformed (seen: "zh;q=0.9;q=0.9"): the languages in their order.
		tags = nil
		for _, part := range strings.Split(header, ",") {
			name, _, _ := strings.Cut(part, ";")
			if t, err := language.Parse(strings.TrimSpace(name)); err == nil {
				tags = append(tags, t)
			}
		}
	}
	for _, t := range tags {
		switch base, _ := t.Base(); base.String() {
		case "zh":
			return lang{i18n.Zh}
		case "en":
			return lang{i18n.En}
		}
	}
	return lang{i18n.En}
}

func parseLang(s string) lang {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "zh") {
		return lang{i18n.Zh}
	}
	return lang{i18n.En}
}
