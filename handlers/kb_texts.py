"""The Chinese texts of /kb: uploading, listing and removing a branch's own knowledge documents.

Message texts are Telegram-HTML (values filled into ``{}`` are escaped by the caller). A file that cannot be read
is answered with knowledge.ingest's own IngestError message.
"""

from __future__ import annotations

KB_ACTION = "管理支部资料"
KB_PRIVATE_ONLY = "请私聊我发送 /kb 管理支部资料。"
KB_LIST_HEADING = "<b>{branch}可供问答引用的资料</b>"
KB_LIST_LINE = "• {id}. 《{title}》 {passages} 段 · {added}"
KB_LIST_SHARED = "• 《{title}》（共享）"
KB_LIST_EMPTY = "本支部还没有上传资料。"
KB_LIST_HINT = (
    "\n上传：10 分钟内把 .docx、.pdf、.txt 或 .md 文件发给我（或发送文件时在说明里写 /kb）。上传后，"
    "本支部党员提问时可以引用，其他支部看不到。\n删除：<code>/kb remove 编号</code>"
)
KB_USAGE = "用法：<code>/kb</code> 查看资料；<code>/kb remove 编号</code> 删除本支部上传的资料。"
KB_TOO_BIG = "文件超过 {limit} MB，请删去图片或拆分成几个文件后再上传。"
KB_DOWNLOAD_FAILED = "没能从 Telegram 取到这个文件，请稍后重新发送。"
KB_FULL = "本支部的资料已达上限（{limit} 段），请先用 <code>/kb remove 编号</code> 删除不再需要的资料，再上传。"
KB_ADDED = "已添加《{title}》（{passages} 段，编号 {id}）。几秒钟后，本支部党员提问即可引用。"
KB_REMOVED = "已删除《{title}》，问答不再引用。"
KB_NOT_FOUND = "本支部没有编号为 {id} 的资料（共享资料不能在这里删除）。发送 /kb 查看编号。"
