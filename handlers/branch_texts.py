"""The Chinese texts of the branch and member commands: /setup, /invite, joining, /members, /setrole, /group, /import.

Message texts are Telegram-HTML (values filled into ``{}`` are escaped by the caller); button labels and
callback-query notes are plain text. Refusals raised by the services carry their own text
(bot.services.branches, bot.services.roster, bot.services.access).
"""

from __future__ import annotations

# Actions named in role refusals ("「生成邀请链接」需要由书记、副书记、组织委员操作").
ACTION_INVITE = "生成邀请链接"
ACTION_MEMBERS = "查看党员名单"
ACTION_SETROLE = "设置职务"
ACTION_GROUP = "管理党小组"
ACTION_IMPORT = "导入党员名册"

# -- /setup -------------------------------------------------------------------------------------------------------

SETUP_IN_GROUP = "请在支部的群里发送 /setup 支部名称"
SETUP_USAGE = "请在 /setup 后面写上支部名称，例如：\n<code>/setup 第一党支部</code>"
SETUP_ADMINS_ONLY = "只有本群的群主或管理员可以创建支部。请联系群主或管理员操作。"
SETUP_NOT_ANONYMOUS = "请先关闭「匿名管理员」身份，再发送 /setup 支部名称（需要知道是谁担任书记）。"
SETUP_DONE = (
    "已创建「{branch}」，本群已绑定该支部，{name}已登记为书记。\n\n"
    "下一步：\n"
    "• /invite — 生成邀请链接，发给党员登记\n"
    "• /group add 第一党小组 — 添加党小组（没有可不加）\n"
    "• 私聊我发送 /import — 导入党员名册（.csv 或 .xlsx）"
)

# -- the group upgraded to a supergroup ------------------------------------------------------------------------------

CHAT_MIGRATED = "本群已升级为超级群组，「{branch}」的绑定已随之迁移，签到、请假和提醒照常进行。"

# -- /invite ------------------------------------------------------------------------------------------------------

INVITE_LINK = (
    "「{branch}」的邀请链接：\n{link}\n\n"
    "有效期至 {expires}，最多 {uses} 人使用。请转发给本支部党员，打开链接后按提示登记。\n"
    "通过邀请链接登记的均为党员；支委等职务请用 /setrole 设置，或用 /claimcode 姓名 生成认领链接。\n"
    "链接外泄时，发送 /invite revoke 可作废本支部全部邀请链接。"
)
INVITE_USAGE = "用法：<code>/invite</code> 生成邀请链接；<code>/invite revoke</code> 作废本支部全部邀请链接。"
INVITE_REVOKED = "已作废本支部 {count} 个邀请链接。需要时发送 /invite 生成新的链接。"
INVITE_NONE_TO_REVOKE = "本支部没有仍然有效的邀请链接。需要时发送 /invite 生成新的链接。"

# -- joining through an invite link -------------------------------------------------------------------------------

JOIN_OPEN_IN_PRIVATE = "请在与我的私聊中打开邀请链接。"
NAME_FIELD = "姓名"  # names the field in the name checks' refusals
JOIN_WELCOME = "欢迎加入「{branch}」！\n请发送您的真实姓名（与党员名册一致，最多 20 个字）。"
JOIN_ROSTER_MATCH = "支部名册中有：{name}（{status}，{group}）。这是您本人吗？{office}"
JOIN_ROSTER_OFFICE = (
    "\n\n名册中的职务是{role}。通过邀请链接登记后身份为党员；"
    "职务需凭书记发给您的认领链接确认，或由书记用 /setrole 设置。"
)
JOIN_ASK_STATUS = "{name}，您好！请选择您的身份："
JOIN_ASK_GROUP = "请选择您所在的党小组："
JOIN_CONFIRM = "请确认登记信息：\n支部：{branch}\n姓名：{name}\n身份：{status}\n党小组：{group}"
JOIN_DONE = "登记成功！欢迎加入「{branch}」。\n发送 /help 查看可用命令，支部的活动通知也会发到这里。"
JOIN_CANCELLED = "已取消登记。需要时可重新打开邀请链接。"
JOIN_PRESS_A_BUTTON = "请点击上方的按钮选择，或发送 /cancel 退出登记。"
NO_GROUP = "无党小组"
BUTTON_ROSTER_YES = "是我本人"
BUTTON_ROSTER_NO = "不是我"
BUTTON_SKIP_GROUP = "跳过"
BUTTON_CONFIRM = "确认登记"
BUTTON_CANCEL = "取消"
JOIN_BUTTON_STALE = "这次登记已经结束。如需登记，请重新打开邀请链接。"  # callback note, plain text

# -- /members -----------------------------------------------------------------------------------------------------

MEMBERS_HEADING = "<b>{branch}</b>\n正式党员 {full} 名、预备党员 {probationary} 名"
MEMBERS_GROUP = "\n<b>{group}</b>"
MEMBERS_LINE = "• {name} · {status} · {role}{unlinked}"
MEMBERS_UNLINKED = "（未登记）"
MEMBERS_EMPTY = "\n本支部还没有党员。发送 /invite 生成邀请链接。"
MEMBERS_INACTIVE = "\n另有已移出 {count} 名（记录保留，书记可发送 /restore 姓名 恢复）。"

# -- /setrole -----------------------------------------------------------------------------------------------------

SETROLE_USAGE = (
    "用法：<code>/setrole 姓名 职务</code>，例如 <code>/setrole 王芳 组织委员</code>；"
    "也可以在群里回复某人的消息发送 <code>/setrole 职务</code>。\n可设职务：{roles}"
)
SETROLE_UNKNOWN_ROLE = "没有「{role}」这个职务。可设职务：{roles}"
NO_SUCH_MEMBER = "本支部名单中没有「{name}」。请发送 /members 核对姓名。"
REPLIED_NOT_MEMBER = "被回复的这位还没有在本支部登记。"
SETROLE_PICK = "本支部有 {count} 位「{name}」，请选择要设为{role}的是哪一位："
SETROLE_DONE = "已将{name}的职务由{previous}改为{role}。"
SETROLE_CONFIRM_TRANSFER = "确认把书记职务移交给{name}吗？移交后，您将改为党员，不能再设置职务。"
SETROLE_TRANSFERRED = "书记已移交给{name}，您现在是党员。"
SETROLE_CANCELLED = "已取消，职务没有变化。"
MEMBER_CHOICE = "{name}（{group}·{role}）"  # button label, plain text
BUTTON_TRANSFER = "确认移交"
MEMBER_BUTTON_STALE = "这个按钮已失效，请重新发送命令。"  # callback note, plain text

# -- /group -------------------------------------------------------------------------------------------------------

GROUP_USAGE = (
    "用法：\n"
    "<code>/group add 第一党小组</code> — 添加党小组\n"
    "<code>/group set 王芳 第一党小组</code> — 把党员编入党小组\n"
    "（也可以回复某人的消息发送 <code>/group set 第一党小组</code>）\n"
    "现有党小组：{groups}"
)
GROUP_NONE_YET = "无"
GROUP_ADDED = "已添加党小组「{group}」。"
GROUP_SET = "已将{name}编入「{group}」。"
GROUP_AMBIGUOUS = "本支部有 {count} 位「{name}」，请在群里回复其中一位的消息，发送 <code>/group set 党小组名称</code>。"

# -- roster import (/import) --------------------------------------------------------------------------------------

IMPORT_PRIVATE_ONLY = "名册含党员个人信息，请私聊我发送 /import 和名册文件。"
IMPORT_ASK_FILE = (
    "请发送党员名册文件（.csv 或 .xlsx）。第一行是表头，需要「姓名」列；"
    "「状态」（正式党员/预备党员）、「职务」、「党小组」列可选。\n发送 /cancel 可退出。"
)
IMPORT_WAITING = "请发送名册文件（.csv 或 .xlsx），或发送 /cancel 退出。"
IMPORT_REJECTED = "名册有以下问题，<b>没有导入任何人</b>。请修改后重新发送文件，或发送 /cancel 退出：\n{problems}"
IMPORT_DONE = "已导入 {added} 名党员。{groups}\n他们打开邀请链接、填写与名册相同的姓名，即可完成登记。"
IMPORT_GROUPS_CREATED = "新建党小组：{groups}。"
IMPORT_CANCELLED = "已取消导入。"

# -- member lifecycle: /remove, /restore, claim links (handlers/membership.py) -------------------------------------

ACTION_REMOVE = "移出党员"
ACTION_RESTORE = "恢复党员"
ACTION_CLAIMCODE = "生成认领链接"

REMOVE_USAGE = (
    "用法：<code>/remove 姓名</code>，或在群里回复某人的消息发送 <code>/remove</code>。\n"
    "移出后该党员不能再使用支部功能，出勤等记录全部保留。"
)
REMOVE_DONE = "已将{name}移出本支部，其出勤等记录全部保留。如需恢复，请发送 /restore {name}。"
REMOVE_AMBIGUOUS = "本支部有 {count} 位「{name}」，请在群里回复其中一位的消息，发送 <code>/remove</code>。"
RESTORE_USAGE = "用法：<code>/restore 姓名</code>，恢复已移出的党员（恢复后为党员，职务可用 /setrole 设置）。"
RESTORE_NOBODY = "已移出的党员中没有「{name}」。请发送 /members 核对。"
RESTORE_AMBIGUOUS = "已移出的党员中有 {count} 位「{name}」，请联系管理员处理。"
RESTORE_DONE = "已恢复{name}，身份为党员。如需设置职务，请发送 /setrole {name} 职务。"

CLAIM_USAGE = (
    "用法：<code>/claimcode 姓名</code> — 为名册中尚未登记的党员生成一次性认领链接。"
    "对方打开后即登记为名册中的本人，并保留名册中的职务。"
)
CLAIM_PRIVATE_ONLY = "认领链接可直接获得名册中的职务，请私聊我发送 /claimcode 姓名。"
CLAIM_NOBODY = "名册中没有尚未登记的「{name}」。请发送 /members 核对姓名。"
CLAIM_AMBIGUOUS = "名册中有 {count} 位尚未登记的「{name}」，请先在名册中把姓名改得可以区分。"
CLAIM_LINK = (
    "{name}（{role}）的认领链接：\n{link}\n\n"
    "有效期至 {expires}，只能使用一次。请只发给{name}本人；再次生成会使这条链接失效。"
)
CLAIM_OPEN_IN_PRIVATE = "请在与我的私聊中打开认领链接。"
CLAIM_DONE = "认领成功！您已登记为「{branch}」的{role}。\n发送 /help 查看可用命令。"
