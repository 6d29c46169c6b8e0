"""The domain vocabulary: canonical terms with their colloquial forms, typos, stopwords and ambiguous phrases.

Every alias is added to jieba's dictionary and mapped to its canonical term, so "支部大会", "党员会" and
"黨員大會" all become one token. Terms hold no punctuation (jieba splits user words at punctuation).
"""

from __future__ import annotations

# canonical term -> aliases (domain-facts §13, plus frequency words folded to one form)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "三会一课": ("三会一课制度", "三会一课要求"),
    "支部": ("党支部", "基层党支部"),
    "党员": ("党员同志", "共产党员"),
    "入党": ("加入党组织", "申请入党"),
    "发展党员": ("发展新党员", "吸收党员"),
    "党委": ("基层党委", "党委会"),
    "党代会": ("党代表大会", "党的代表大会", "上级党代会"),
    "党龄": ("党龄计算",),
    "党纪": ("党的纪律",),
    "委员会": ("支部委员会成员",),
    "副书记": ("支部副书记", "党支部副书记"),
    "支部党员大会": (
        "党员大会",
        "支部大会",
        "党支部党员大会",
        "全体党员大会",
        "支部党员会",
        "党员会",
        "党员会议",
        "党员大会会议",
        "支部党员大会会议",
        "全体党员会",
        "全体党员会议",
        "党员全体会议",
    ),
    "支委会": (
        "支部委员会会议",
        "支委会议",
        "党支部委员会会议",
        "支委员会",
        "委员会会议",
        "支部委员会",
        "党支部委员会",
        "支委会会议",
        "支委",
        "支部班子",
        "支委班子",
    ),
    "党小组会": ("党小组会议", "小组会", "小组会议", "党小组学习", "党小组活动"),
    "党小组": ("小组",),
    "党小组长": ("党小组组长", "小组长"),
    "党课": ("上党课", "讲党课", "微党课", "专题党课", "党课教育"),
    "书记讲党课": ("书记上党课", "书记党课"),
    "主题党日": (
        "支部主题党日",
        "党日",
        "党日活动",
        "主题党日活动",
        "党员活动日",
        "支部活动日",
        "组织生活日",
        "固定党日",
        "主题党日制度",
    ),
    "组织生活会": ("组织生活会议", "生活会", "专题组织生活会", "年度组织生活会", "组织生活会制度"),
    "民主生活会": ("领导班子民主生活会",),
    "组织生活": ("过组织生活", "参加组织生活"),
    "特殊党员": ("特殊化党员",),
    "民主评议党员": ("评议", "民主评议", "党员评议", "评议党员", "党员民主评议", "民主评议党员工作"),
    "民主测评": ("测评",),
    "谈心谈话": ("谈心", "谈话", "谈心交流", "一对一谈话", "谈心谈话制度"),
    "党费": (
        "交党费",
        "缴党费",
        "缴纳党费",
        "交纳党费",
        "党费标准",
        "党费基数",
        "党费比例",
        "补交党费",
        "预交党费",
        "代交党费",
        "党费收缴",
        "算党费",
    ),
    "自行脱党": ("自动脱党", "脱党", "自动退党", "自行退党", "算脱党"),
    "入党申请人": ("申请人", "递交入党申请书", "入党申请书", "入党申请"),
    "入党积极分子": ("积极分子", "推优", "团员推优", "积极份子", "入党积极份子"),
    "发展对象": ("重点发展对象",),
    "预备党员": ("预备期党员",),
    "转正": ("转为正式", "预备党员转正", "按期转正", "转为正式党员"),
    "正式党员": ("正式的党员",),
    "入党介绍人": ("介绍人",),
    "培养联系人": ("培养人", "联系人"),
    "政治审查": ("政审", "函调", "外调"),
    "换届选举": ("换届", "改选", "增补委员", "补选", "差额选举", "选举"),
    "支部书记": ("党支部书记", "支书", "书记", "支部的书记", "总支书记"),
    "两学一做": ("学党章党规学系列讲话做合格党员",),
    "不忘初心牢记使命": ("不忘初心", "牢记使命", "初心使命"),
    "主题教育": ("主题教育活动",),
    "第一议题": ("第一议题制度",),
    "双重组织生活": ("双重组织生活会",),
    "会议记录": ("记录本", "会议纪要", "会议记录本", "记录"),
    "台账": ("党建台账", "工作纪实", "支部工作手册", "工作手册"),
    "签到表": ("签到", "签到簿"),
    "请假": ("请假条", "请个假", "告假"),
    "缺席": ("缺会", "缺了", "没参加", "没去", "没来"),
    "补学": ("补课", "补学补课"),
    "表决权": ("投票权", "表决资格"),
    "选举权": ("投票选举权",),
    "过半": ("半数以上", "超过半数", "一半以上", "过半数", "半数"),
    "五分之四": ("4/5", "百分之八十", "80%", "八成"),
    "支部工作条例": ("支部条例", "党支部工作条例", "中国共产党支部工作条例"),
    "发展党员工作细则": ("发展党员细则", "入党流程", "入党程序", "发展党员流程", "发展党员程序"),
    "党员教育管理工作条例": ("党员教育条例", "党员教育管理条例"),
    "每季度": ("每季", "一季度", "一个季度", "每三个月", "每个季度", "季度"),
    "每月": ("每个月", "一个月", "月度"),
    "每年": ("每年度", "年度", "全年"),
    "联合党支部": ("联合支部", "联合党组织", "联合建支部"),
    "党总支": ("总支", "党总支部", "总支部"),
    "离退休党员": ("退休党员", "离休党员", "老党员"),
    # topics beyond the three meetings: transfer, archives, discipline, mobile and abroad members
    "组织关系": (
        "党组织关系",
        "党员组织关系",
        "组织关系转接",
        "转组织关系",
        "转关系",
        "组织关系转移",
        "转移组织关系",
        "党员关系",
    ),
    "全国党员管理信息系统": ("党员管理信息系统", "全国党员信息系统", "党员信息管理系统"),
    "组织关系介绍信": ("介绍信", "党员组织关系介绍信", "组织介绍信"),
    "党员档案": ("档案", "党员的档案", "党档", "入党档案", "入党材料档案"),
    "入党志愿书": ("志愿书", "入党志愿表"),
    "预备期": ("预备考察期", "预备期满"),
    "流动党员": ("外出打工党员", "外出党员", "外出流动党员", "流出党员", "流入党员", "外出务工党员", "在外党员"),
    "流动党员活动证": ("活动证", "流动党员证"),
    "出国": ("出境", "出国境", "去国外", "到国外", "在国外", "国外", "出国出境", "公派出国", "因公出国"),
    "出国学习研究": ("出国留学", "留学", "访学", "访问学者", "公派留学", "出国进修", "出国深造", "出国读书"),
    "流动党员党组织": ("流动党员党支部", "流动党员支部", "流动党员党委", "流动党员党总支"),
    "党报党刊": ("党报", "党刊", "党刊党报", "党报刊"),
    "思想汇报": ("思想汇报材料", "写思想汇报", "交思想汇报"),
    "停止党籍": ("停党籍",),
    "纪律处分": ("党纪处分", "党内处分", "处分", "纪律处理", "党纪处理"),
    "警告": ("党内警告", "警告处分"),
    "严重警告": ("党内严重警告", "严重警告处分"),
    "撤销党内职务": ("撤职", "撤销职务", "撤销党内职务处分"),
    "留党察看": ("留党查看", "留党察看处分", "留察"),
    "开除党籍": ("开除出党", "开除党员", "开除党籍处分"),
    "五必谈": ("五个必谈",),
    "学生党员": ("大学生党员",),
    "农民党员": ("农村党员",),
}

# Organisations other than the Party whose meetings, fees and elections sound like a branch's ("团员大会到会多少人才
# 有效", "工会小组会一个月开几次"): the Party's rules do not answer for them (knowledge.asked_kinds.other_body). A
# 团员 applying to join the Party is a Party question, so only the League's own bodies and meetings are listed. Short
# names that also occur inside ordinary words (民建 in 居民建议, 民革 in 人民革命) are left out.
OTHER_BODIES: dict[str, tuple[str, ...]] = {
    "共青团": ("团委", "团支部", "共青团组织", "团组织", "团员大会", "团员民主评议", "团员评议", "团费"),
    "团日活动": ("团日", "主题团日"),
    "工会": ("工会小组", "工会委员会", "工会主席", "工会会员"),
    "妇联": ("妇女联合会", "妇联主席", "妇女小组"),
    "村委会": ("村民委员会", "居委会", "居民委员会", "村委", "村民代表"),
    "民主党派": ("民主党派成员", "民盟", "农工党", "致公党", "九三学社", "台盟"),
    "职代会": ("职工代表大会",),
    "业委会": ("业主委员会", "业主大会"),
    "少先队": (),
    "人大代表": (),
    "政协": (),
}

# Neighbouring organisations and topics the knowledge does not cover, kept whole and weighed as rare nouns, so that
# a question about them ("工会小组会多久开", "团日活动每月搞吗") is not answered by an entry that shares only its
# other words. Not domain terms: they lower no bar and repair no typo.
UNCOVERED_TOPICS: dict[str, tuple[str, ...]] = {
    **OTHER_BODIES,
    "团籍": ("离团", "退团", "保留团籍", "超龄离团"),
    "巡察": ("巡视", "巡察组", "巡视组"),
    "审计": ("审计部门",),
    "八项规定": ("中央八项规定", "八项规定精神"),
    "四风": ("四风问题", "反四风"),
    "四个意识": (),
    "四个自信": (),
    "两个维护": (),
    "两个确立": (),
    "选调生": (),
    "党章总纲": ("总纲",),
    "中央委员会": ("中央委员", "中央政治局", "政治局委员"),
    "共产党员网": (),
    "测评票": ("民主测评票", "评议票", "测评表"),
    "微信": ("微信群",),
    "支付宝": (),
    "钉钉": (),
    "腾讯会议": (),
    "去世": ("逝世", "过世", "病故", "追悼会", "悼词", "花圈", "骨灰", "骨灰盒", "遗体"),
}

# typos that pinyin matching cannot reach (visual look-alikes) or that are too short to match safely
TYPOS: dict[str, str] = {
    "党曰": "党日",
    "当课": "党课",
    "党科": "党课",
    "党废": "党费",
    "支布": "支部",
    "脱当": "脱党",
    "党圆": "党员",
    "当员": "党员",
    "知部": "支部",
    "换界": "换届",
    "转证": "转正",
    "换节": "换届",
    "支布书记": "支部书记",
    "党非": "党费",
    "多旧": "多久",
    "招开": "召开",
    "请价": "请假",
    "签子": "签字",
    "认期": "任期",
    "正审": "政审",
    "比列": "比例",
    "党棵": "党课",
    "书计": "书记",
    "预备其": "预备期",
    "党零": "党龄",
    "党飞": "党费",
    "年新制": "年薪制",
    "台帐": "台账",  # the older variant character, still common in documents and questions
    "帐目": "账目",
}

# characters that sound like a term's last character but, with text after them, are a verb of their own: "党员回村"
# and "党员回原单位" are not a typo of 党员会 (only "…党员回" at the end of a clause may be)
VERBS_NOT_TYPOS = frozenset("回")
# ... unless what follows is how a question about the term goes on ("党员回多久开一次", "支委回要几个人")
QUESTION_CONTINUATIONS = frozenset("多几开怎什啥要是有一每的在上能应该由谁哪")

# single words a question adds nothing with
STOPWORDS: frozenset[str] = frozenset(
    "的 了 吗 呢 啊 吧 呀 哦 嘛 么 是 在 和 与 及 或 就 都 也 还 又 再 这 那 这个 那个 这样 "
    "我 我们 你 你们 他 她 它 咱们 咱 请问 请 问 一下 想 想问 知道 告诉 谢谢 您好 你好 老师 "
    "有没有 是不是 能不能 可不可以 可以 能 应该 需要 得 着 过 个 把 被 让 给 "
    "对 从 向 为 为了 关于 一个 什么样 么样 啥 为啥 到底 具体 大概 一般 主要 通常 平时 那天 时候 以后 之后 还要 有个 "
    "这么 那么 指 来 下 上 但 完 全部 一块 一起 同志 咱们 我们支部 单位 那种 这种 情况 事情 事 请教 一定 "
    "大家 现在 已经 实在 正好 有人 问问 问下 心里 一直 比如 这边 那边 其实 然后 就是 那块 这块 "
    "这些 那些 一些 有点 还得 非得 真的 确实 麻烦 帮忙 帮我 谁能 一下子 好像 听说 据说 "
    "还是 说 前任 这儿 那儿 一句 问一句 不知道 搞 弄 新任 新上任 刚上任 要不要 不用 用不用 几回 "
    "能开 得开 要开 刚 接手 刚接手 不能 不要 最多能 简单 说说 我刚 我能 厂里 去".split()
)

# phrases that name two different things; the answer covers each reading
AMBIGUOUS: dict[str, tuple[str, ...]] = {
    "党支部委员会大会": ("支委会", "支部党员大会"),
    "支部委员会大会": ("支委会", "支部党员大会"),
    "支委大会": ("支委会", "支部党员大会"),
}

PINYIN_MIN_CHARS = 3  # shorter terms collide with everyday words by sound ("支部" ~ "知不")
PINYIN_MAX_CHARS = 6  # longer terms are rarely mistyped whole; bounding the window keeps repair fast


def all_terms() -> set[str]:
    """Every word to teach jieba: canonical terms, aliases, typo targets and ambiguous phrases."""
    terms = set(SYNONYMS) | set(UNCOVERED_TOPICS) | set(TYPOS.values()) | set(AMBIGUOUS)
    for aliases in (*SYNONYMS.values(), *UNCOVERED_TOPICS.values()):
        terms.update(aliases)
    return {t for t in terms if t.isalnum()}


def canonical_map() -> dict[str, str]:
    """Every alias (and term) -> its canonical term: the domain's, then the uncovered topics' (a domain term wins)."""
    mapping = {canonical: canonical for canonical in SYNONYMS}
    for canonical, aliases in SYNONYMS.items():
        for alias in aliases:
            mapping[alias] = canonical
    for canonical, aliases in UNCOVERED_TOPICS.items():
        for word in (canonical, *aliases):
            mapping.setdefault(word, canonical)
    return mapping
