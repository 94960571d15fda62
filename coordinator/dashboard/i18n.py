"""Words of the dashboard pages in Simplified Chinese and English.

``t(lang, key, **values)`` for templates; :data:`CLIENT_KEYS` are the words the page
scripts need (sent once per page as JSON). Report words live in
:mod:`coordinator.reports.labels`; :func:`t` falls back to them.
"""

from __future__ import annotations

from coordinator.reports.labels import LABELS as REPORT_LABELS
from shared.model import COUPON_KINDS

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

WORDS: dict[str, tuple[str, str]] = {
    "app": ("Tapfleet 运营中心", "Tapfleet operations"),
    "nav.fleet": ("终端", "Fleet"),
    "nav.conflicts": ("对账冲突", "Conflicts"),
    "nav.rollouts": ("下发", "Rollouts"),
    "nav.reports": ("经营报表", "Reports"),
    "nav.logout": ("退出", "Log out"),
    "lang.switch": ("English", "中文"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": (
        "用户名或密码不对，请再试一次。",
        "Unknown user or wrong password; try again.",
    ),
    "login.insecure": (
        "此页面通过明文 HTTP 打开，浏览器不会保存登录。请使用 HTTPS 访问，"
        "或在可信的反向代理之后设置 dashboard.cookie_secure = false。",
        "This page came over plain HTTP, so the browser will not keep the login. Open it "
        "over HTTPS, or set dashboard.cookie_secure = false behind a trusted proxy.",
    ),
    "role.hq_admin": ("总部管理员", "HQ admin"),
    "role.store_manager": ("店长", "Store manager"),
    "role.viewer": ("只读", "Viewer"),
    # fleet
    "fleet.title": ("终端状态", "Fleet"),
    "fleet.store": ("门店", "Store"),
    "fleet.all_stores": ("全部门店", "All stores"),
    "fleet.problems": ("只看有问题的", "Problems only"),
    "fleet.live": ("实时更新", "Live"),
    "fleet.stale": ("连接中断，正在重连…", "Connection lost, reconnecting…"),
    "fleet.none": ("没有符合条件的终端。", "No kiosk matches."),
    "fleet.alerts": ("告警", "Alerts"),
    "fleet.no_alerts": ("当前没有告警。", "No active alerts."),
    "col.kiosk": ("终端", "Kiosk"),
    "col.alive": ("存活", "Alive"),
    "col.connected": ("连接", "Connected"),
    "col.in_sync": ("同步", "In sync"),
    "col.last_tap": ("最近有效刷卡", "Last good tap"),
    "col.outbox": ("待上传", "Outbox"),
    "col.oldest": ("最早未确认", "Oldest unacked"),
    "col.versions": ("版本（已用/最新）", "Versions (applied/current)"),
    "col.readers": ("读卡器", "Readers"),
    "col.stations": ("门禁读卡器", "Door stations"),
    "station.silent": ("{name}：{ago}未上报", "{name}: silent for {ago}"),
    "col.clock": ("时钟偏差", "Clock offset"),
    "col.software": ("软件版本", "Software"),
    "col.alert": ("告警", "Alert"),
    "col.since": ("开始于", "Since"),
    "col.detail": ("详情", "Detail"),
    "fact.alive": ("存活", "alive"),
    "fact.dead": ("无心跳", "no heartbeat"),
    "fact.never": ("从未上报", "never heard"),
    "fact.online": ("在线", "online"),
    "fact.offline": ("离线", "offline"),
    "fact.unknown": ("未知", "unknown"),
    "fact.in_sync": ("已同步", "in sync"),
    "fact.behind": ("未同步", "behind"),
    "fact.revoked": ("已停用", "revoked"),
    "fact.none": ("无", "none"),
    "fact.estimated": ("估算", "estimated"),
    "ago.s": ("{n} 秒前", "{n} s ago"),
    "ago.m": ("{n} 分钟前", "{n} min ago"),
    "ago.h": ("{n} 小时前", "{n} h ago"),
    "ago.d": ("{n} 天前", "{n} d ago"),
    "v.rules": ("规则", "rules"),
    "v.deny": ("黑名单", "deny"),
    "v.members": ("会员", "members"),
    "alert.offline": ("终端失联", "Kiosk down"),
    "alert.sync_lag": ("同步滞后", "Sync lag"),
    "alert.version_lag": ("版本未更新", "Version not applied"),
    "alert.reader": ("读卡器故障", "Reader unhealthy"),
    "alert.clock_skew": ("时钟偏差", "Clock skew"),
    "alert.rejections": ("拒绝率上升", "Rising rejections"),
    "alert.flapping": ("连接反复断开", "Connection flapping"),
    "alert.flaps": ("{n} 次断开", "{n} drops"),
    "alert.raised_times": ("第 {n} 次", "raised {n} times"),
    # kiosk detail
    "kiosk.title": ("终端 {kiosk}", "Kiosk {kiosk}"),
    "kiosk.facts": ("当前状态", "Current facts"),
    "kiosk.timeline": ("状态变化记录", "Status changes"),
    "kiosk.no_changes": ("还没有记录。", "Nothing recorded yet."),
    "kiosk.heartbeat": ("最近心跳", "Last heartbeat"),
    "kiosk.interval": ("心跳间隔", "Heartbeat interval"),
    "kiosk.seq": ("事件序号（已入账/终端上报）", "Event seq (applied / reported)"),
    "kiosk.held": ("等待补发的事件", "Events held behind a gap"),
    "kiosk.disk": ("剩余磁盘", "Disk free"),
    "kiosk.uptime": ("运行时间", "Uptime"),
    "kiosk.taps": ("刷卡（成功/拒绝）", "Taps (accepted / refused)"),
    "tl.connected": ("连接", "Connection"),
    "tl.alive": ("心跳", "Heartbeat"),
    "tl.in_sync": ("同步", "Sync"),
    "tl.software": ("软件版本", "Software"),
    "tl.reader": ("读卡器 {name}", "Reader {name}"),
    "tl.alert": ("告警：{name}", "Alert: {name}"),
    "tl.raised": ("触发", "raised"),
    "tl.cleared": ("解除", "cleared"),
    # conflicts
    "conflicts.title": ("对账冲突", "Conflicts"),
    "conflicts.open": ("待处理", "Open"),
    "conflicts.history": ("处理记录", "History"),
    "conflicts.none_open": ("没有待处理的冲突。", "No open conflicts."),
    "conflicts.none_history": ("还没有处理记录。", "Nothing resolved yet."),
    "conflicts.open_it": ("查看并处理", "Review and decide"),
    "conflicts.view": ("查看", "View"),
    "conflict.title": ("冲突 {id}", "Conflict {id}"),
    "conflict.kind": ("类型", "Kind"),
    "conflict.member": ("会员", "Member"),
    "conflict.subject": ("卡 / 券", "Pass / coupon"),
    "conflict.stores": ("涉及门店", "Stores involved"),
    "conflict.story": ("经过（按入账顺序）", "What happened, in ledger order"),
    "conflict.step_over": ("← 这一次超出", "← this one went over"),
    "conflict.offline": ("离线", "offline"),
    "conflict.online": ("在线", "online"),
    "conflict.hq": ("总部", "HQ"),
    "conflict.original": ("系统原文说明", "Ledger's own explanation"),
    "conflict.decide": ("处理决定", "Decision"),
    "conflict.note": ("备注（必填，会记录在审计中）", "Note (required, kept in the audit trail)"),
    "conflict.submit": ("提交处理", "Resolve"),
    "conflict.readonly": (
        "你的账号只能查看，不能处理冲突。",
        "Your account can view conflicts but not resolve them.",
    ),
    "conflict.status": ("状态", "Status"),
    "conflict.resolved_by": ("处理人", "Resolved by"),
    "conflict.resolved_at": ("处理时间", "Resolved at"),
    "conflict.resolution_note": ("处理备注", "Note"),
    "conflict.adjustment": ("调整事件", "Adjustment event"),
    "conflict.occurrences": ("出现次数", "Occurrences"),
    "conflict.created": ("发现时间", "Found at"),
    "conflict.done": ("已处理。", "Resolved."),
    "status.open": ("待处理", "open"),
    "status.resolved": ("已处理", "resolved"),
    "status.withdrawn": ("已撤回（重算后不再成立）", "withdrawn (no longer raised)"),
    "kind.pass_overdrawn": ("计次卡超用", "Pass overdrawn"),
    "kind.pass_invalid_at_use": ("使用时卡无效", "Pass not valid when used"),
    "kind.pass_unknown": ("未知的卡", "Unknown pass"),
    "kind.coupon_reused": ("单次券重复核销", "Single-use coupon used twice"),
    "kind.coupon_invalid_at_use": ("使用时券无效", "Coupon not valid when used"),
    "kind.coupon_unknown": ("未知的券", "Unknown coupon"),
    "kind.points_overdrawn": ("积分透支", "Points overdrawn"),
    "kind.card_revoked_used": ("挂失卡被使用", "Revoked card used"),
    "kind.clock_skew": ("终端时钟异常", "Kiosk clock implausible"),
    "kind.qr_replay": ("会员码重复使用", "QR code replayed"),
    "kind.poisoned_seq": ("事件序号冲突", "Conflicting event seq"),
    "kind.duplicate_event_id": ("事件编号重复", "Event id reused"),
    "kind.quarantined_event": ("事件未入账", "Event kept out of balances"),
    # rollouts
    "rollouts.title": ("下发规则与活动", "Rollouts"),
    "rollouts.rules": ("发布规则包", "Publish a rule bundle"),
    "rollouts.rules_help": (
        "规则、课程和奖品（JSON）。已按当前总部规则预填。",
        "Rules, classes and rewards (JSON), prefilled with the current chain-wide bundle.",
    ),
    "rollouts.campaign": ("发放优惠券活动", "Issue a coupon campaign"),
    "rollouts.scope": ("下发到", "Send to"),
    "rollouts.all_stores": ("全部门店", "All stores"),
    "rollouts.some_stores": ("选定门店：", "These stores:"),
    "rollouts.note": ("说明", "Note"),
    "rollouts.publish": ("发布", "Publish"),
    "rollouts.issue": ("发放", "Issue"),
    "rollouts.coupon_title": ("券名称", "Coupon title"),
    "rollouts.coupon_kind": ("券类型", "Kind"),
    # rollouts.kind.<kind>: from shared.model.COUPON_KINDS, below
    "rollouts.value": ("面值", "Value"),
    "rollouts.valid_days": ("有效天数", "Valid for (days)"),
    "rollouts.audience": ("发给", "Audience"),
    "rollouts.audience.all": ("所有会员", "All members"),
    "rollouts.audience.home": ("所选门店的会员", "Members of the chosen stores"),
    "rollouts.status": ("生效情况", "Who applied it"),
    "rollouts.applied": ("已生效 {n}/{total}", "applied {n}/{total}"),
    "rollouts.pending_push": ("等待推送", "waiting to be pushed"),
    "rollouts.issued": ("已发 {n} 张", "{n} issued"),
    "rollouts.waiting": ("未生效：", "Not yet: "),
    "rollouts.bundle": ("规则包 v{version}", "Rule bundle v{version}"),
    "rollouts.campaign_row": ("活动 {id}", "Campaign {id}"),
    "rollouts.readonly": (
        "你的账号只能查看下发情况。",
        "Your account can watch rollouts but not publish.",
    ),
    "rollouts.done": ("已发布。", "Published."),
    "rollouts.none": ("还没有下发记录。", "Nothing published yet."),
    "rollouts.scope_all": ("全部门店", "all stores"),
    # reports
    "reports.title": ("经营报表", "Reports"),
    "reports.from": ("从", "From"),
    "reports.to": ("到", "To"),
    "reports.show": ("查看", "Show"),
    "reports.csv": ("下载 CSV", "Download CSV"),
    "reports.more_rows": (
        "页面只显示前 {shown} 行，共 {total} 行；CSV 包含全部。",
        "Showing {shown} of {total} rows; the CSV has all of them.",
    ),
    "reports.generated": ("生成于 {at}", "Generated {at}"),
    "reports.empty": ("没有数据。", "No rows."),
    # engagement (automations and webhook endpoints)
    "nav.engage": ("会员营销", "Engagement"),
    "engage.title": ("会员营销", "Engagement"),
    "engage.automations": ("自动营销", "Automations"),
    "engage.automations_help": (
        "自动营销写在规则里（下发页的规则 JSON：rules.automations），"
        "每位会员每个时机最多执行一次。",
        "Automations live in the rules (rules.automations in the Rollouts page's JSON); "
        "each acts at most once per member per occasion.",
    ),
    "engage.none": ("还没有自动营销。", "No automations yet."),
    "engage.name": ("名称", "Name"),
    "engage.trigger": ("触发", "Trigger"),
    "engage.actions": ("动作", "Actions"),
    "engage.runs": ("执行次数", "Runs"),
    "engage.last_run": ("最近执行", "Last run"),
    "engage.notified": ("已排队通知", "Notified"),
    "engage.sent": ("已送达网关", "Sent"),
    "engage.coupons_issued": ("发券", "Coupons issued"),
    "engage.coupons_redeemed": ("已核销", "Redeemed"),
    "engage.points_granted": ("赠送积分", "Points granted"),
    "engage.enabled": ("启用", "Enabled"),
    "engage.endpoints": ("Webhook 接收端", "Webhook endpoints"),
    "engage.endpoints_help": (
        "通知经签名的 Webhook（Standard Webhooks）发往连锁自己的短信、微信或邮件网关；"
        "接收端通过 /api/v1/webhooks 管理。",
        "Notifications leave as signed webhooks (Standard Webhooks) to the chain's own SMS, "
        "WeChat or e-mail gateway; manage endpoints through /api/v1/webhooks.",
    ),
    "engage.no_endpoints": ("还没有接收端。", "No endpoints yet."),
    "engage.url": ("地址", "URL"),
    "engage.scope": ("范围", "Scope"),
    "engage.chain_wide": ("全连锁", "Chain-wide"),
    "engage.events": ("订阅事件", "Events"),
    "engage.all_events": ("全部", "All"),
    "engage.state": ("状态", "State"),
    "engage.active": ("正常", "Active"),
    "engage.disabled": ("已停用：{reason}", "Disabled: {reason}"),
    "engage.pending": ("待发送", "Pending"),
    "engage.delivered": ("已送达", "Delivered"),
    "engage.failed": ("失败", "Failed"),
    "trigger.birthday": ("生日", "Birthday"),
    "trigger.registration": ("注册", "Registration"),
    "trigger.first_visit": ("首次到店", "First visit"),
    "trigger.member_day": ("会员日提醒", "Member day"),
    "trigger.referral": ("推荐会员", "Referral"),
    "trigger.rfm_entered": ("进入 RFM 象限", "RFM quadrant entered"),
    "trigger.points_expiring": ("积分即将过期", "Points expiring"),
    "trigger.pass_expiring": ("卡即将到期", "Pass ending"),
    "trigger.at_risk": ("流失风险", "At risk"),
    "trigger.lapsed": ("已流失", "Lapsed"),
    "action.issue_coupon": ("发券", "Issue a coupon"),
    "action.grant_points": ("送积分", "Grant points"),
    "action.add_tag": ("打标签", "Add a tag"),
    "action.notify": ("通知", "Notify"),
    # generic
    "error.title": ("出错了", "Something went wrong"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
}

WORDS.update(
    {
        f"rollouts.kind.{kind.value}": (info.form_label("zh"), info.form_label("en"))
        for kind, info in COUPON_KINDS.items()
    }
)

CLIENT_KEYS = tuple(
    k
    for k in WORDS
    if k.split(".")[0] in {"fact", "ago", "v", "alert", "col", "fleet", "rollouts", "conflict"}
)


def normalize(lang: str | None) -> str:
    """``zh`` or ``en`` (``zh-CN``, ``en-US`` and the like included); default ``zh``."""
    if not lang:
        return DEFAULT_LANG
    code = lang.strip().lower()[:2]
    return code if code in LANGS else DEFAULT_LANG


def t(lang: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang``; unknown keys raise KeyError (a bug, not a blank)."""
    pair = WORDS.get(key) or REPORT_LABELS[key]
    text = pair[0] if lang == "zh" else pair[1]
    return text.format(**values) if values else text


def client_words(lang: str) -> dict[str, str]:
    """The words the page scripts use."""
    return {k: t(lang, k) for k in CLIENT_KEYS}
