package phone

import (
	"context"
	"time"
)

// Message is a text message delivered to a phone.
type Message struct {
	Phone        string `json:"phone"`
	SignName     string `json:"sign_name"`
	TemplateCode string `json:"template_code"`
	Text         string `json:"text"`
	// Code is the verification code the message carries, if any.
	Code  string    `json:"code,omitempty"`
	BizID string    `json:"biz_id"`
	Sent  time.Time `json:"sent"`
}

// Inbox holds the text messages sent to each phone.
type Inbox interface {
	// Messages returns the messages sent to a phone, newest first.
	Messages(ctx context.Context, phone string) []Message
}
