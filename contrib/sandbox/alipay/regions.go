package alipay

// provinces names the province-level divisions by the first two digits of
// an ID number (GB/T 2260).
var provinces = map[string]string{
	"11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
	"21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
	"31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
	"41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区", "46": "海南省",
	"50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
	"61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区", "65": "新疆维吾尔自治区",
	"71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}

// cities names the prefecture-level divisions the sandbox's citizens live
// in, by the first four digits.
var cities = map[string]string{
	"4301": "长沙市", "4302": "株洲市", "4303": "湘潭市", "4304": "衡阳市", "4305": "邵阳市",
	"4306": "岳阳市", "4307": "常德市", "4308": "张家界市", "4309": "益阳市", "4310": "郴州市",
	"4311": "永州市", "4312": "怀化市", "4313": "娄底市", "4331": "湘西土家族苗族自治州",
	"4401": "广州市", "4403": "深圳市",
}

// regionNames returns the province and city of an ID number's address
// code, as alipay.user.info.share reports them; a municipality is its own
// city, an unknown prefecture an empty city.
func regionNames(idNumber string) (province, city string) {
	if len(idNumber) < 4 {
		return "", ""
	}
	province = provinces[idNumber[:2]]
	switch idNumber[:2] {
	case "11", "12", "31", "50":
		return province, province
	}
	return province, cities[idNumber[:4]]
}
