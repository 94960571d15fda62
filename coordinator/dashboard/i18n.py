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
    "role.front_desk": ("前台", "Front desk"),
    "role.coach": ("教练", "Coach"),
    "nav.members": ("会员", "Members"),
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
    # members (front desk)
    "members.title": ("会员", "Members"),
    "members.search": ("搜索会员", "Find a member"),
    "members.search_hint": ("姓名、手机号、会员号或卡号", "Name, phone, member id or card UID"),
    "members.search_go": ("搜索", "Search"),
    "members.register": ("登记新会员", "Register a member"),
    "members.masked": (
        "您的角色看不到会员的全名和手机号（已隐去）。",
        "Your role does not see members' full names and phone numbers (masked).",
    ),
    "members.none": ("没有找到会员。", "No member matches."),
    "members.prev": ("上一页", "Previous"),
    "members.next": ("下一页", "Next"),
    "members.page": ("第 {n} 页", "Page {n}"),
    "member.id": ("会员号", "Member id"),
    "member.display_name": ("显示名", "Display name"),
    "member.full_name": ("姓名", "Full name"),
    "member.phone": ("手机号", "Phone"),
    "member.home_store": ("所属门店", "Home store"),
    "member.cards": ("会员卡", "Cards"),
    "member.status": ("状态", "Status"),
    "member.status.active": ("正常", "active"),
    "member.status.suspended": ("已停用", "suspended"),
    "member.profile": ("资料", "Profile"),
    "member.tier": ("等级", "Tier"),
    "member.points": ("可用积分", "Points available"),
    "member.checkins": ("到店次数", "Check-ins"),
    "member.since": ("入会日期", "Member since"),
    "member.bound": ("绑定时间", "Bound"),
    "member.no_cards": ("还没有绑定会员卡。", "No card bound yet."),
    "member.passes": ("课程卡 / 会员卡", "Passes"),
    "member.no_passes": ("没有课程卡。", "No pass."),
    "member.points_lots": ("积分及到期", "Points and when they expire"),
    "member.no_points": ("没有可用积分。", "No points left."),
    "member.coupons": ("优惠券", "Coupons"),
    "member.no_coupons": ("没有优惠券。", "No coupon."),
    "member.timeline": ("时间线", "Timeline"),
    "member.money_followup": (
        "储值余额与充值将随储值功能上线（待接入）。",
        "Stored value and top-ups arrive with the stored-value work (follow-up).",
    ),
    "member.display_name_hint": (
        "终端上显示，请隐去部分（如 李*华）",
        "shown on kiosks: keep it masked (e.g. Anna L.)",
    ),
    "member.birthday": ("生日", "Birthday"),
    "member.gender": ("性别", "Gender"),
    "member.tags": ("标签", "Tags"),
    "member.tags_hint": ("用逗号分隔", "comma-separated"),
    "member.referrer": ("推荐人会员号", "Referred by (member id)"),
    "member.actions": ("办理", "Actions"),
    "gender.female": ("女", "female"),
    "gender.male": ("男", "male"),
    "gender.other": ("其他", "other"),
    "members.open_existing": ("打开会员 {id}", "Open member {id}"),
    "members.readonly": (
        "您的角色只能查看，不能办理。",
        "Your role reads; it cannot change members.",
    ),
    "action.lost": ("挂失", "Report lost"),
    "action.replace": ("补卡", "Replace"),
    "action.new_uid": ("新卡号", "New card UID"),
    "action.card_uid": ("卡号（UID）", "Card UID"),
    "action.bind": ("绑定", "Bind card"),
    "action.freeze": ("冻结", "Freeze"),
    "action.unfreeze": ("解冻", "Unfreeze"),
    "action.extend": ("延期/加次", "Extend"),
    "action.valid_until": ("新的截止日期", "New last day"),
    "action.add_sessions": ("增加次数", "Sessions to add"),
    "action.points": ("赠送积分", "Grant points"),
    "action.points_n": ("积分", "Points"),
    "action.reason": ("原因", "Reason"),
    "action.coupon": ("发优惠券", "Issue a coupon"),
    "action.coupon_kind": ("券类型", "Kind"),
    "action.coupon_value": ("面值（元以分计 / 折扣百分比）", "Value (fen, or percent off)"),
    "action.valid_days": ("有效天数", "Valid for days"),
    "action.edit": ("修改资料", "Edit profile"),
    "action.save": ("保存", "Save"),
    "confirm.register": ("确认登记这位会员？", "Register this member?"),
    "confirm.edit": ("确认保存资料修改？", "Save these profile changes?"),
    "confirm.bind": ("确认把这张卡绑定给该会员？", "Bind this card to the member?"),
    "confirm.lost": (
        "确认挂失卡 {uid}？所有终端将拒绝此卡。",
        "Report card {uid} lost? Every kiosk will refuse it.",
    ),
    "confirm.replace": (
        "确认补卡？旧卡 {uid} 将被停用。",
        "Replace the card? The old card {uid} is blocked.",
    ),
    "confirm.freeze": (
        "确认冻结「{name}」？冻结期间有效期暂停。",
        "Freeze {name}? Its validity pauses while frozen.",
    ),
    "confirm.unfreeze": (
        "确认解冻「{name}」？冻结的天数将补回。",
        "Unfreeze {name}? The frozen days are given back.",
    ),
    "confirm.extend": ("确认延期或加次「{name}」？", "Extend {name}?"),
    "confirm.points": ("确认赠送积分？", "Grant these points?"),
    "confirm.coupon": ("确认发放这张优惠券？", "Issue this coupon?"),
    "done.register": ("会员已登记。", "Member registered."),
    "done.edit": ("资料已保存。", "Profile saved."),
    "done.bind": ("卡已绑定。", "Card bound."),
    "done.lost": ("卡已挂失，所有终端将拒绝此卡。", "Card reported lost; every kiosk refuses it."),
    "done.replace": ("已补卡，旧卡已停用。", "Card replaced; the old one is blocked."),
    "done.freeze": ("已冻结。", "Pass frozen."),
    "done.unfreeze": ("已解冻，冻结天数已补回。", "Pass unfrozen; the frozen days are given back."),
    "done.extend": ("已延期。", "Pass extended."),
    "done.coupon": ("优惠券已发放。", "Coupon issued."),
    "done.points": ("积分已赠送。", "Points granted."),
    "card.active": ("正常", "active"),
    "card.lost": ("已挂失", "lost"),
    "card.stolen": ("被盗", "stolen"),
    "card.revoked": ("已停用", "revoked"),
    "card.replaced": ("已换卡", "replaced"),
    "pass.name": ("名称", "Name"),
    "pass.kind": ("类型", "Kind"),
    "pass.kind.punch": ("次卡", "Punch pass"),
    "pass.kind.time": ("期限卡", "Time pass"),
    "pass.valid": ("有效期", "Valid"),
    "pass.sessions_left": ("剩余次数", "Sessions left"),
    "pass.stores": ("适用门店", "Stores"),
    "pass.every_store": ("全部门店", "every store"),
    "pass.frozen": ("已冻结", "frozen"),
    "pass.usable": ("可用", "usable"),
    "points.remaining": ("剩余积分", "Points left"),
    "points.earned": ("获得日期", "Earned"),
    "points.expires": ("到期日期", "Expires"),
    "coupon.title": ("名称", "Title"),
    "coupon.valid": ("有效期", "Valid"),
    "coupon.used": ("已使用", "used"),
    "coupon.unused": ("未使用", "unused"),
    "timeline.when": ("时间", "When"),
    "timeline.what": ("事项", "What"),
    "timeline.store": ("门店", "Store"),
    "timeline.kiosk": ("终端", "Kiosk"),
    "timeline.staff": ("员工", "Staff"),
    "timeline.detail": ("详情", "Detail"),
    "timeline.hq": ("总部/前台", "HQ / desk"),
    "timeline.none": ("还没有记录。", "Nothing recorded yet."),
    "timeline.more": ("只显示最近 200 条。", "Showing the latest 200 entries."),
    "what.checkin": ("签到", "check-in"),
    "what.class_signin": ("上课签到", "class sign-in"),
    "what.points_redeem": ("积分兑换", "points redeemed"),
    "what.coupon_redeem": ("使用优惠券", "coupon redeemed"),
    "what.rejected": ("被拒绝", "refused"),
    "what.reversal": ("撤销", "reversal"),
    "what.adjustment": ("调整", "adjustment"),
    "what.pass_issue": ("售卡", "pass sold"),
    "what.pass_update": ("卡变更", "pass changed"),
    "what.coupon_issue": ("发券", "coupon issued"),
    "what.points_expire": ("积分到期", "points expired"),
    "what.member.create": ("登记会员", "member registered"),
    "what.member.change": ("修改资料", "profile changed"),
    "what.card.bind": ("绑定会员卡", "card bound"),
    "what.card.report_lost": ("挂失", "card reported lost"),
    "what.card.replace": ("补卡", "card replaced"),
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


def t_or(lang: str, key: str, fallback: str) -> str:
    """The text of ``key`` in ``lang``, or ``fallback`` when there is none (e.g. an event kind
    added later)."""
    pair = WORDS.get(key)
    if pair is None:
        return fallback
    return pair[0] if lang == "zh" else pair[1]


def client_words(lang: str) -> dict[str, str]:
    """The words the page scripts use."""
    return {k: t(lang, k) for k in CLIENT_KEYS}
