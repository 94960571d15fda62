"""Words of the reports in Simplified Chinese and English, in one place.

``label(lang, key, **values)`` formats the text for ``lang`` (``zh`` or ``en``); a missing
key is a bug, so it raises KeyError instead of showing a blank.
"""

from __future__ import annotations

LANGS = ("zh", "en")

LABELS: dict[str, tuple[str, str]] = {
    # sections
    "sec.checkins": ("到店签到", "Check-ins"),
    "sec.checkins.intro": (
        "每家门店每天、每小时的签到和上课签到次数（已撤销的不计）。",
        "Check-ins and class sign-ins per store, per day and per hour (undone ones removed).",
    ),
    "sec.classes": ("课程出勤与容量", "Class attendance vs. capacity"),
    "sec.classes.intro": (
        "本期开课的每节课：签到人数与课程容量；按课程类型、教练和时段的满员率与未到率；"
        "候补转化；以及用于排课的高峰时段（按星期与开课时间的上课人次）。",
        "Every class that started in the period: students signed in against its capacity; "
        "fill and no-shows per class type, coach and hour; waitlist conversions; and the "
        "peak hours (attendance per weekday and start hour) for scheduling.",
    ),
    "sec.passes": ("计次卡", "Punch passes"),
    "sec.passes.intro": (
        "每天扣除的课次、售卡情况，以及即将到期或快用完的卡（可提醒续卡）。",
        "Sessions deducted per day, passes sold, and passes about to expire or nearly used "
        "up (worth a renewal call).",
    ),
    "sec.points": ("积分", "Points"),
    "sec.points.intro": (
        "本期发放、兑换、调整和过期的积分，以及当前未兑换积分（负债）。",
        "Points earned, redeemed, adjusted and expired in the period, and the points "
        "members hold now (the liability).",
    ),
    "sec.coupons": ("优惠券", "Coupons"),
    "sec.coupons.intro": (
        "按活动统计的发券与核销。",
        "Coupons issued and redeemed, by campaign.",
    ),
    "sec.money": ("储值与消费", "Stored value and purchases"),
    "sec.money.intro": (
        "储值负债（本金、赠送金额、30 天内到期的赠送金额）按会员归属门店；本期每家门店每天的"
        "充值、储值消费、退款和消费笔数；跨店结算：在 A 店充值、在 B 店消费的金额（先充先用）。",
        "Stored-value liability (principal, bonus, bonus expiring within 30 days) by member "
        "home store; top-ups, stored-value spend, refunds and purchases per store and day; "
        "cross-store settlement: value collected at one store and spent at another (first "
        "in, first out).",
    ),
    "sec.lapsed": ("会员流失", "Lapsed members"),
    "sec.lapsed.intro": (
        "超过自己平常到店周期 {factor} 倍仍未到店的会员"
        "（至少到店 {min_visits} 天；截至 {as_of}）。",
        "Members not seen for more than {factor}x their own usual visit cycle (at least "
        "{min_visits} visit days; as of {as_of}).",
    ),
    "sec.rfm": ("RFM 会员价值", "RFM"),
    "sec.rfm.intro": (
        "最近到店（R）、到店频率（F）、消费金额（M，已知的售卡金额）。"
        "按频率与金额的中位数分为四个象限（截至 {as_of}，回看 {days} 天）。",
        "Recency, frequency and monetary value (pass sales where the price is known), split "
        "into quadrants at the medians of frequency and value (as of {as_of}, looking back "
        "{days} days).",
    ),
    "sec.staff": ("员工业绩与提成", "Staff sales and commission"),
    "sec.staff.intro": (
        "本期每位员工在卡项目录中售出的卡、金额与提成（按售出时有效的提成规则计算），"
        "以及每位教练已确认授课的课程节数与上课人次；"
        "每位员工经手的积分兑换、优惠券核销与储值消费（会员自助操作不计，已撤销的不计）。",
        "Catalogue sales per staff member in the period, with the commission the rules in "
        "force at each sale give; the classes each coach taught (marked taught) with "
        "their attendance; and the points and coupon redemptions and stored-value spends each "
        "staff member performed (not members' own taps, not undone ones).",
    ),
    # charts
    "chart.commission": ("员工提成（元）", "Commission per staff member (CNY)"),
    "chart.checkins_daily": ("每日签到", "Check-ins per day"),
    "chart.checkins_hourly": ("各时段签到（本期合计）", "Check-ins by hour (period total)"),
    "chart.attendance": ("出勤 / 容量", "Attendance / capacity"),
    "chart.peak_hours": (
        "高峰时段：按星期与开课时间的上课人次",
        "Peak hours: attendance per day and start hour",
    ),
    "chart.sessions_daily": ("每日扣除课次", "Sessions deducted per day"),
    "chart.points": ("积分流向", "Points flow"),
    "chart.money_daily": ("每日充值与储值消费（元）", "Top-ups and stored-value spend per day (¥)"),
    "chart.coupons": ("发券与核销（本期）", "Issued and redeemed (period)"),
    "chart.lapsed": ("流失程度（几倍周期未到店）", "How overdue (cycles without a visit)"),
    "chart.rfm": ("频率 × 金额", "Frequency x value"),
    # table titles
    "table.checkins_daily": ("每日签到明细", "Check-ins per day"),
    "table.checkins_hourly": ("各时段签到", "Check-ins per hour"),
    "table.class_attendance": ("课程出勤", "Class attendance"),
    "table.waitlist_conversions": ("候补转化（按课程类型）", "Waitlist conversions per class type"),
    "table.peak_hours": (
        "高峰时段（星期 × 开课时间，上课人次）",
        "Peak hours (day x start hour, attendance)",
    ),
    "table.class_fill": (
        "按课程类型、教练和时段的满员率与未到率",
        "Fill and no-show rate per class type, coach and hour",
    ),
    "table.pass_usage_daily": ("每日扣除课次", "Sessions deducted per day"),
    "table.pass_sales": ("售卡", "Passes sold"),
    "table.passes_attention": ("需关注的计次卡", "Passes needing attention"),
    "table.points_flow": ("本期积分流向", "Points in the period"),
    "table.stored_value_liability": ("储值负债", "Stored-value liability"),
    "table.money_daily": ("每日充值与消费", "Top-ups and spend per day"),
    "table.money_settlement": ("跨店结算", "Cross-store settlement"),
    "table.coupon_money": ("优惠券金额", "Coupon money"),
    "table.staff_commission": ("员工提成", "Staff commission"),
    "table.classes_taught": ("教练授课", "Classes taught per coach"),
    "table.staff_redemptions": ("员工核销", "Redemptions per staff member"),
    "table.points_liability": ("未兑换积分（负债）", "Outstanding points (liability)"),
    "table.coupons_by_campaign": ("按活动统计", "By campaign"),
    "table.lapsed_members": ("流失会员", "Lapsed members"),
    "table.rfm_quadrants": ("象限汇总", "Quadrants"),
    "table.rfm_members": ("会员明细", "Members"),
    # columns
    "col.staff": ("员工", "Staff"),
    "col.commission": ("提成（元）", "Commission (CNY)"),
    "col.classes_taught": ("授课节数", "Classes taught"),
    "col.attendance": ("上课人次", "Attendance"),
    "col.points_redemptions": ("积分兑换", "Points redemptions"),
    "col.coupon_redemptions": ("优惠券核销", "Coupon redemptions"),
    "col.sv_spends": ("储值消费笔数", "Stored-value spends"),
    "col.sv_spent": ("储值消费（元）", "Stored value spent (CNY)"),
    "col.date": ("日期", "Date"),
    "col.time": ("时间", "Time"),
    "col.hour": ("时段", "Hour"),
    "col.store": ("门店", "Store"),
    "col.checkins": ("签到", "Check-ins"),
    "col.class_signins": ("上课签到", "Class sign-ins"),
    "col.class": ("课程", "Class"),
    "col.capacity": ("容量", "Capacity"),
    "col.attended": ("签到人数", "Attended"),
    "col.fill": ("满员率", "Fill"),
    "col.class_type": ("课程类型", "Class type"),
    "col.coach": ("教练", "Coach"),
    "col.classes_held": ("开课节数", "Classes held"),
    "col.booked": ("预约人数", "Booked"),
    "col.sessions_waitlisted": ("有候补的课", "Classes with a waitlist"),
    "col.waitlist_joined": ("加入候补", "Joined the waitlist"),
    "col.waitlist_promoted": ("候补转正", "Promoted to a seat"),
    "col.conversion": ("转化率", "Conversion"),
    "col.promoted_attended": ("转正后到课", "Promoted and attended"),
    "col.day": ("星期", "Day"),
    "wd.0": ("周一", "Mon"),
    "wd.1": ("周二", "Tue"),
    "wd.2": ("周三", "Wed"),
    "wd.3": ("周四", "Thu"),
    "wd.4": ("周五", "Fri"),
    "wd.5": ("周六", "Sat"),
    "wd.6": ("周日", "Sun"),
    "col.no_shows": ("未到", "No-shows"),
    "col.no_show_rate": ("未到率", "No-show rate"),
    "col.sessions": ("扣除课次", "Sessions deducted"),
    "col.passes_sold": ("售出张数", "Passes sold"),
    "col.revenue": ("金额（元）", "Revenue (CNY)"),
    "col.member": ("会员", "Member"),
    "col.member_id": ("会员号", "Member ID"),
    "col.pass": ("卡", "Pass"),
    "col.sessions_left": ("剩余/总次数", "Left / total"),
    "col.valid_until": ("有效期至", "Valid until"),
    "col.reason": ("原因", "Reason"),
    "col.earned": ("发放", "Earned"),
    "col.redeemed": ("兑换", "Redeemed"),
    "col.adjusted": ("人工调整", "Adjusted"),
    "col.expired": ("过期", "Expired"),
    "col.members_with_points": ("有积分会员", "Members with points"),
    "col.members_with_value": ("有储值会员", "Members with stored value"),
    "col.principal_yuan": ("本金（元）", "Principal (¥)"),
    "col.bonus_yuan": ("赠送金额（元）", "Bonus (¥)"),
    "col.bonus_expiring_30d_yuan": ("30 天内到期赠送（元）", "Bonus expiring in 30 days (¥)"),
    "col.owed_yuan": ("透支欠款（元）", "Owed after overdraw (¥)"),
    "col.topped_up_yuan": ("充值（元）", "Topped up (¥)"),
    "col.spent_yuan": ("储值消费（元）", "Stored value spent (¥)"),
    "col.refunded_yuan": ("退款（元）", "Refunded (¥)"),
    "col.purchases": ("消费笔数", "Purchases"),
    "col.purchase_total_yuan": ("消费金额（元）", "Purchase total (¥)"),
    "col.average_ticket_yuan": ("客单价（元）", "Average ticket (¥)"),
    "col.collected_at": ("收款门店", "Collected at"),
    "col.spent_at": ("消费门店", "Spent at"),
    "col.amount_yuan": ("金额（元）", "Amount (¥)"),
    "col.voucher_liability_yuan": ("未使用代金券面值（元）", "Unused vouchers' value (¥)"),
    "col.coupon_purchases": ("用券消费笔数", "Purchases with a coupon"),
    "col.coupon_off_yuan": ("券抵扣金额（元）", "Taken off by coupons (¥)"),
    "col.outstanding": ("未兑换积分", "Outstanding points"),
    "col.expiring_30d": ("30 天内到期", "Expiring in 30 days"),
    "col.debt": ("积分欠款", "Points debt"),
    "col.campaign": ("活动", "Campaign"),
    "col.title": ("名称", "Title"),
    "col.issued": ("本期发放", "Issued (period)"),
    "col.redeemed_period": ("本期核销", "Redeemed (period)"),
    "col.issued_total": ("累计发放", "Issued (all time)"),
    "col.redeemed_total": ("累计核销", "Redeemed (all time)"),
    "col.redemption_rate": ("核销率", "Redemption rate"),
    "col.home_store": ("所属门店", "Home store"),
    "col.visits": ("到店天数", "Visit days"),
    "col.cycle": ("平常周期（天）", "Usual cycle (days)"),
    "col.last_visit": ("最近到店", "Last visit"),
    "col.days_since": ("已有几天未到", "Days since"),
    "col.overdue": ("超过周期倍数", "Cycles overdue"),
    "col.recency": ("最近（天）", "Recency (days)"),
    "col.frequency": ("频率（天）", "Frequency (days)"),
    "col.value": ("金额（元）", "Value (CNY)"),
    "col.r": ("R", "R"),
    "col.f": ("F", "F"),
    "col.m": ("M", "M"),
    "col.quadrant": ("象限", "Quadrant"),
    "col.members": ("会员数", "Members"),
    "col.share": ("占比", "Share"),
    "col.avg_frequency": ("平均频率", "Avg. frequency"),
    "col.avg_value": ("平均金额（元）", "Avg. value (CNY)"),
    # values
    "reason.expiring": ("{days} 天内到期", "expires within {days} days"),
    "reason.used_up": ("快用完", "nearly used up"),
    "reason.both": ("快到期且快用完", "expiring and nearly used up"),
    "q.champions": ("核心会员（高频高值）", "Champions (frequent, high value)"),
    "q.loyal": ("忠诚会员（高频低值）", "Loyal (frequent, low value)"),
    "q.big_spenders": ("高值低频（需唤回）", "Big spenders (rare visits)"),
    "q.occasional": ("一般会员", "Occasional"),
    "axis.frequency": ("到店天数", "Visit days"),
    "axis.value": ("金额（元）", "Value (CNY)"),
    "hq": ("总部", "HQ"),
    "overdrawn": ("透支（无人收款）", "Overdrawn (collected nowhere)"),
    "all_stores": ("全部门店", "All stores"),
    "none": ("本期没有数据", "No data for this period"),
    "never": ("从未", "never"),
    "overdue.2_3": ("2–3 倍", "2–3x"),
    "overdue.3_5": ("3–5 倍", "3–5x"),
    "overdue.5_10": ("5–10 倍", "5–10x"),
    "overdue.10": ("10 倍以上", "over 10x"),
    "lapsed_count": ("流失会员", "Lapsed members"),
    "sessions_series": ("课次", "Sessions"),
}


def label(lang: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` with ``values`` filled in."""
    zh, en = LABELS[key]
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text
