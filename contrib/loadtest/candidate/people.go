package candidate

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
)

// Person is someone a candidate plays: the name on the ID card, the
// number and the phone they bind. Citizen, when set, names a person of
// the sandbox's population registry (c035…); otherwise the person is
// synthetic (any valid number the registry does not hold is accepted
// with any name, and their face passes).
type Person struct {
	Name     string
	IDNumber string
	Phone    string
	Citizen  string
	// RegistryName is the name the population registry holds when it
	// differs from the card: the name/ID check fails for Name.
	RegistryName string
}

// String shows a person without their full number or phone.
func (p Person) String() string {
	return fmt.Sprintf("%s %s %s", p.Name, cnid.MaskID(p.IDNumber), cnid.MaskPhone(p.Phone))
}

// Hunan's region codes (Changsha, Zhuzhou, Xiangtan, Hengyang districts):
// the sample exam's candidates live there.
var regions = []string{
	"430102", "430103", "430104", "430105", "430111", "430112", "430121",
	"430202", "430203", "430204", "430211", "430302", "430304", "430405", "430406",
}

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	given    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志文斌宇浩凯俊帆晨阳欣怡佳琪雪梅琳晶颖婷倩丹蕾瑶慧思雨涵博睿泽轩")
	// mobile prefixes of the synthetic people; the sandbox registry's own
	// people use 138000xxxxx, which these never produce.
	mobilePrefixes = []string{"135", "136", "137", "139", "150", "151", "152", "157", "158", "159", "182", "183", "187", "188", "198"}
)

// People makes synthetic people with valid, distinct GB 11643 numbers
// and distinct mobile numbers. Everyone is born between 1990 and 2000, so
// they are between 21 and 32 on the sample exam's reference day and fit
// its positions' age limits. It is safe for concurrent use.
type People struct {
	mu     sync.Mutex
	rng    *rand.Rand
	ids    map[string]bool
	phones map[string]bool
}

// NewPeople returns a generator. seed fixes the sequence (for tests);
// nil draws a random seed, so that runs against one database do not
// repeat people who already hold accounts. taken lists numbers and
// phones never to hand out (the registry's own people).
func NewPeople(seed *[32]byte, taken ...string) *People {
	var s [32]byte
	if seed != nil {
		s = *seed
	} else {
		for i := range s {
			s[i] = byte(rand.Uint32())
		}
	}
	p := &People{rng: rand.New(rand.NewChaCha8(s)), ids: map[string]bool{}, phones: map[string]bool{}}
	for _, t := range taken {
		p.ids[t], p.phones[t] = true, true
	}
	return p
}

var birthFrom = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)

const birthDays = 11 * 365 // to the end of 2000

// Synthetic returns a new person nobody else got from p.
func (p *People) Synthetic() Person {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out Person
	for {
		out.IDNumber = idNumber(p.rng)
		if !p.ids[out.IDNumber] {
			break
		}
	}
	for {
		out.Phone = phone(p.rng)
		if !p.phones[out.Phone] {
			break
		}
	}
	p.ids[out.IDNumber], p.phones[out.Phone] = true, true
	name := []rune{surnames[p.rng.IntN(len(surnames))], given[p.rng.IntN(len(given))]}
	if p.rng.IntN(3) > 0 {
		name = append(name, given[p.rng.IntN(len(given))])
	}
	out.Name = string(name)
	return out
}

// idNumber draws a valid number: region, birth date, sequence, check
// character (cnid.CheckChar).
func idNumber(rng *rand.Rand) string {
	birth := birthFrom.AddDate(0, 0, rng.IntN(birthDays))
	first17 := regions[rng.IntN(len(regions))] + birth.Format("20060102") + fmt.Sprintf("%03d", rng.IntN(1000))
	c, err := cnid.CheckChar(first17)
	if err != nil {
		panic("candidate: a generated number is malformed: " + err.Error()) // digits only, by construction
	}
	return first17 + string(c)
}

func phone(rng *rand.Rand) string {
	return mobilePrefixes[rng.IntN(len(mobilePrefixes))] + fmt.Sprintf("%08d", rng.IntN(100_000_000))
}
