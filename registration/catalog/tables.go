package catalog

import (
	"strings"
)

// Education is a level of education (学历), ordered from lowest to highest.
type Education int

const (
	// EducationAny sets no education condition; candidates never have it.
	EducationAny Education = iota
	HighSchool             // 高中/中专
	College                // 大专
	Bachelor               // 本科
	Master                 // 硕士研究生
	Doctorate              // 博士研究生
)

var educationNames = []string{"不限", "高中/中专", "大专", "本科", "硕士研究生", "博士研究生"}

// String returns the Chinese name of the level.
func (e Education) String() string {
	if e < 0 || int(e) >= len(educationNames) {
		return "未知"
	}
	return educationNames[e]
}

// Educations lists the levels a candidate can hold, lowest first.
func Educations() []Education {
	return []Education{HighSchool, College, Bachelor, Master, Doctorate}
}

// ParseEducation reads a Chinese level name. 不限 and the empty string
// read as EducationAny; 高中, 中专 and 高中/中专 all read as HighSchool, and
// 研究生 alone as Master.
func ParseEducation(s string) (Education, bool) {
	switch strings.TrimSpace(s) {
	case "", "不限":
		return EducationAny, true
	case "高中", "中专", "高中/中专", "高中或中专", "中专/高中":
		return HighSchool, true
	case "大专", "专科", "大学专科":
		return College, true
	case "本科", "大学本科":
		return Bachelor, true
	case "硕士研究生", "研究生", "硕士":
		return Master, true
	case "博士研究生", "博士":
		return Doctorate, true
	}
	return 0, false
}

// Degree is an academic degree (学位), ordered from none to highest.
type Degree int

const (
	// DegreeNone is no degree for a candidate, and no condition for a
	// position.
	DegreeNone Degree = iota
	DegreeBachelor
	DegreeMaster
	DegreeDoctor
)

var degreeNames = []string{"无", "学士", "硕士", "博士"}

// String returns the Chinese name of the degree.
func (d Degree) String() string {
	if d < 0 || int(d) >= len(degreeNames) {
		return "未知"
	}
	return degreeNames[d]
}

// Degrees lists the degrees a candidate can hold, none first.
func Degrees() []Degree { return []Degree{DegreeNone, DegreeBachelor, DegreeMaster, DegreeDoctor} }

// ParseDegree reads a degree as a position requirement or a candidate's
// answer: 无, 不限 and the empty string read as DegreeNone.
func ParseDegree(s string) (Degree, bool) {
	switch strings.TrimSpace(s) {
	case "", "无", "不限":
		return DegreeNone, true
	case "学士", "学士学位":
		return DegreeBachelor, true
	case "硕士", "硕士学位":
		return DegreeMaster, true
	case "博士", "博士学位":
		return DegreeDoctor, true
	}
	return 0, false
}

// politicalStatuses are the 政治面貌 values of the national standard
// GB/T 4762, in their usual order.
var politicalStatuses = []string{
	"中共党员", "中共预备党员", "共青团员",
	"民革党员", "民盟盟员", "民建会员", "民进会员", "农工党党员", "致公党党员", "九三学社社员", "台盟盟员",
	"无党派人士", "群众",
}

// PoliticalStatuses lists the accepted political statuses.
func PoliticalStatuses() []string { return append([]string(nil), politicalStatuses...) }

// ValidPolitical reports whether s is one of PoliticalStatuses.
func ValidPolitical(s string) bool {
	for _, p := range politicalStatuses {
		if p == s {
			return true
		}
	}
	return false
}

// Region is an administrative division: a province (two-digit code) or a
// city of Hunan (four-digit code), as in GB/T 2260 and the first digits of
// an ID number.
type Region struct {
	Code string
	Name string
}

var provinces = []Region{
	{"11", "北京市"}, {"12", "天津市"}, {"13", "河北省"}, {"14", "山西省"}, {"15", "内蒙古自治区"},
	{"21", "辽宁省"}, {"22", "吉林省"}, {"23", "黑龙江省"},
	{"31", "上海市"}, {"32", "江苏省"}, {"33", "浙江省"}, {"34", "安徽省"}, {"35", "福建省"}, {"36", "江西省"}, {"37", "山东省"},
	{"41", "河南省"}, {"42", "湖北省"}, {"43", "湖南省"}, {"44", "广东省"}, {"45", "广西壮族自治区"}, {"46", "海南省"},
	{"50", "重庆市"}, {"51", "四川省"}, {"52", "贵州省"}, {"53", "云南省"}, {"54", "西藏自治区"},
	{"61", "陕西省"}, {"62", "甘肃省"}, {"63", "青海省"}, {"64", "宁夏回族自治区"}, {"65", "新疆维吾尔自治区"},
	{"71", "台湾省"}, {"81", "香港特别行政区"}, {"82", "澳门特别行政区"},
}

var hunanCities = []Region{
	{"4301", "长沙市"}, {"4302", "株洲市"}, {"4303", "湘潭市"}, {"4304", "衡阳市"}, {"4305", "邵阳市"},
	{"4306", "岳阳市"}, {"4307", "常德市"}, {"4308", "张家界市"}, {"4309", "益阳市"}, {"4310", "郴州市"},
	{"4311", "永州市"}, {"4312", "怀化市"}, {"4313", "娄底市"}, {"4331", "湘西土家族苗族自治州"},
}

// Regions lists every region a requirement may name: the provinces, then
// the cities of Hunan.
func Regions() []Region {
	return append(append([]Region(nil), provinces...), hunanCities...)
}

// CandidateRegions lists the regions a candidate chooses a household or
// origin from: each city of Hunan (named with its province), then every
// other province.
func CandidateRegions() []Region {
	var out []Region
	for _, c := range hunanCities {
		out = append(out, Region{c.Code, "湖南省" + c.Name})
	}
	for _, p := range provinces {
		if p.Code != "43" {
			out = append(out, p)
		}
	}
	return out
}

// ValidCandidateRegion reports whether code is one of CandidateRegions.
func ValidCandidateRegion(code string) bool {
	for _, r := range CandidateRegions() {
		if r.Code == code {
			return true
		}
	}
	return false
}

// RegionName returns the name of a region code from Regions.
func RegionName(code string) (string, bool) {
	for _, r := range provinces {
		if r.Code == code {
			return r.Name, true
		}
	}
	for _, r := range hunanCities {
		if r.Code == code {
			return r.Name, true
		}
	}
	return "", false
}

// RegionNames joins the names of codes with 或; unknown codes show as
// themselves.
func RegionNames(codes []string) string {
	names := make([]string, len(codes))
	for i, c := range codes {
		if n, ok := RegionName(c); ok {
			names[i] = n
		} else {
			names[i] = c
		}
	}
	return strings.Join(names, "或")
}

// MajorCategory is a category (专业类) of the undergraduate catalogue of
// majors with its common majors.
type MajorCategory struct {
	Name   string
	Majors []string
}

// OtherCategory is the category a candidate chooses when their major
// belongs to none of MajorCategories.
const OtherCategory = "其他"

var majorCategories = []MajorCategory{
	{"哲学类", []string{"哲学", "逻辑学"}},
	{"经济学类", []string{"经济学", "经济统计学", "国民经济管理"}},
	{"财政学类", []string{"财政学", "税收学"}},
	{"金融学类", []string{"金融学", "保险学", "投资学", "金融工程"}},
	{"经济与贸易类", []string{"国际经济与贸易", "贸易经济"}},
	{"法学类", []string{"法学", "知识产权", "监狱学"}},
	{"政治学类", []string{"政治学与行政学", "国际政治", "外交学"}},
	{"社会学类", []string{"社会学", "社会工作"}},
	{"马克思主义理论类", []string{"思想政治教育", "科学社会主义"}},
	{"公安学类", []string{"治安学", "侦查学", "边防管理"}},
	{"教育学类", []string{"教育学", "教育技术学"}},
	{"中国语言文学类", []string{"汉语言文学", "汉语言", "秘书学"}},
	{"外国语言文学类", []string{"英语", "日语", "俄语", "法语"}},
	{"新闻传播学类", []string{"新闻学", "广播电视学", "网络与新媒体"}},
	{"历史学类", []string{"历史学", "考古学"}},
	{"数学类", []string{"数学与应用数学", "信息与计算科学"}},
	{"统计学类", []string{"统计学", "应用统计学"}},
	{"计算机类", []string{"计算机科学与技术", "软件工程", "网络工程", "信息安全", "数据科学与大数据技术"}},
	{"电子信息类", []string{"电子信息工程", "通信工程", "电子科学与技术"}},
	{"电气类", []string{"电气工程及其自动化"}},
	{"土木类", []string{"土木工程", "给排水科学与工程", "建筑环境与能源应用工程"}},
	{"建筑类", []string{"建筑学", "城乡规划", "风景园林"}},
	{"水利类", []string{"水利水电工程", "水文与水资源工程"}},
	{"测绘类", []string{"测绘工程", "遥感科学与技术"}},
	{"地质类", []string{"地质工程", "勘查技术与工程"}},
	{"环境科学与工程类", []string{"环境工程", "环境科学"}},
	{"食品科学与工程类", []string{"食品科学与工程", "食品质量与安全"}},
	{"交通运输类", []string{"交通运输", "交通工程"}},
	{"植物生产类", []string{"农学", "园艺", "植物保护"}},
	{"动物医学类", []string{"动物医学"}},
	{"林学类", []string{"林学", "森林保护"}},
	{"临床医学类", []string{"临床医学"}},
	{"公共卫生与预防医学类", []string{"预防医学"}},
	{"药学类", []string{"药学", "临床药学"}},
	{"管理科学与工程类", []string{"管理科学", "信息管理与信息系统", "工程管理", "工程造价"}},
	{"工商管理类", []string{"工商管理", "会计学", "财务管理", "审计学", "人力资源管理"}},
	{"公共管理类", []string{"行政管理", "公共事业管理", "劳动与社会保障", "土地资源管理"}},
	{"图书情报与档案管理类", []string{"图书馆学", "档案学"}},
}

// MajorCategories lists the known major categories and their majors.
func MajorCategories() []MajorCategory {
	out := make([]MajorCategory, len(majorCategories))
	for i, c := range majorCategories {
		out[i] = MajorCategory{c.Name, append([]string(nil), c.Majors...)}
	}
	return out
}

// KnownCategory reports whether name is one of MajorCategories.
func KnownCategory(name string) bool {
	for _, c := range majorCategories {
		if c.Name == name {
			return true
		}
	}
	return false
}

// CategoryOf returns the category a known major belongs to.
func CategoryOf(major string) (string, bool) {
	major = NormalizeMajor(major)
	for _, c := range majorCategories {
		for _, m := range c.Majors {
			if m == major {
				return c.Name, true
			}
		}
	}
	return "", false
}

// IsCategory reports whether a requirement entry names a major category
// rather than a specific major.
func IsCategory(entry string) bool { return strings.HasSuffix(entry, "类") }

// NormalizeMajor removes spaces and turns full-width brackets into
// half-width ones, so that majors typed either way compare equal.
func NormalizeMajor(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\u3000':
			return -1
		case '（':
			return '('
		case '）':
			return ')'
		}
		return r
	}, strings.TrimSpace(s))
}
