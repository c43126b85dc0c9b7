package app

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/httpx"
	"github.com/ordersys/ordersys/internal/messaging"
)

// admin implements the operator's endpoints: the dead letters and their replay. The dead-letter
// topics are read through kafka, the process's producer; the outbox dead letters are in the
// databases of the services the process runs, whose outboxes are outboxes.
type admin struct {
	kafka    *kgo.Client
	outboxes []messaging.Relayed
}

// ListDeadLetters is GET /api/v1/admin/dlq: the records of the dead-letter topics and, under the
// pseudo-topic messaging.OutboxDLQ, the outbox rows the broker refused for good, of the services
// this process runs (the rows are in their databases). With no topic, all of them.
func (a admin) ListDeadLetters(ctx context.Context, req api.ListDeadLettersRequestObject) (api.ListDeadLettersResponseObject, error) {
	var letters []messaging.DeadLetter
	switch {
	case req.Params.Topic != nil && *req.Params.Topic == messaging.OutboxDLQ:
		outbox, err := messaging.ListRelayedDeadLetters(ctx, a.outboxes)
		switch {
		case err != nil:
			return nil, errs.New(errs.EUNAVAILABLE, "Cannot read the outbox dead letters", err.Error())
		case len(a.outboxes) == 0:
			return nil, errs.New(errs.ENOTFOUND, "No such dead-letter topic",
				"this process runs no service, so it has no outbox dead letters")
		}
		letters = outbox
	case req.Params.Topic != nil:
		kafka, err := a.kafkaDeadLetters(ctx, []string{*req.Params.Topic})
		if err != nil {
			return nil, err
		}
		letters = kafka
	default:
		kafka, err := a.kafkaDeadLetters(ctx, nil)
		if err != nil {
			return nil, err
		}
		outbox, err := messaging.ListRelayedDeadLetters(ctx, a.outboxes)
		if err != nil {
			return nil, errs.New(errs.EUNAVAILABLE, "Cannot read the outbox dead letters", err.Error())
		}
		letters = append(kafka, outbox...)
		messaging.SortDeadLetters(letters)
	}
	// Every letter is read to sort them (they come from several topics and databases); only
	// the page asked for is sent.
	page, size := httpx.Paging(req.Params.Page, req.Params.Size)
	out := api.ListDeadLetters200JSONResponse{Items: []api.DeadLetter{}, Page: page, Size: size, Total: int64(len(letters))}
	from := min((page-1)*size, len(letters))
	for _, dl := range letters[from:min(from+size, len(letters))] {
		out.Items = append(out.Items, deadLetterAPI(dl))
	}
	return out, nil
}

// kafkaDeadLetters lists the records of the dead-letter topics (all of them if topics is empty).
func (a admin) kafkaDeadLetters(ctx context.Context, topics []string) ([]messaging.DeadLetter, error) {
	letters, err := messaging.ListDeadLetters(ctx, a.kafka, topics)
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return nil, errs.New(errs.ENOTFOUND, "No such dead-letter topic", err.Error())
	case err != nil:
		return nil, errs.New(errs.EUNAVAILABLE, "Cannot read the dead-letter topics", err.Error())
	}
	return letters, nil
}

// ReplayDeadLetter is POST /api/v1/admin/dlq/{id}/replay. A record of a dead-letter topic is
// produced again to its original topic; an outbox dead letter is put back into its service's
// outbox, for the relay to try again. Either stays listed, replayed; a discarded one is refused.
func (a admin) ReplayDeadLetter(ctx context.Context, req api.ReplayDeadLetterRequestObject) (api.ReplayDeadLetterResponseObject, error) {
	var dl messaging.DeadLetter
	var err error
	if messaging.IsOutboxDeadLetterID(req.Id) {
		dl, err = messaging.ReplayRelayedDeadLetter(ctx, a.outboxes, req.Id)
	} else {
		dl, err = messaging.ReplayDeadLetter(ctx, a.kafka, req.Id)
	}
	if err != nil {
		return nil, deadLetterError("Replay failed", err)
	}
	return api.ReplayDeadLetter202JSONResponse(deadLetterAPI(dl)), nil
}

// DiscardDeadLetter is POST /api/v1/admin/dlq/{id}/discard: the dead letter is recorded as
// discarded, stays listed so, and is never replayed.
func (a admin) DiscardDeadLetter(ctx context.Context, req api.DiscardDeadLetterRequestObject) (api.DiscardDeadLetterResponseObject, error) {
	var dl messaging.DeadLetter
	var err error
	if messaging.IsOutboxDeadLetterID(req.Id) {
		dl, err = messaging.DiscardRelayedDeadLetter(ctx, a.outboxes, req.Id)
	} else {
		dl, err = messaging.DiscardDeadLetter(ctx, a.kafka, req.Id)
	}
	if err != nil {
		return nil, deadLetterError("Discard failed", err)
	}
	return api.DiscardDeadLetter200JSONResponse(deadLetterAPI(dl)), nil
}

// deadLetterError is the API's error for a replay or discard that failed with err.
func deadLetterError(failed string, err error) error {
	switch {
	case errors.Is(err, messaging.ErrDeadLetterNotFound):
		return errs.New(errs.ENOTFOUND, "No such dead letter", err.Error())
	case errors.Is(err, messaging.ErrDeadLetterDiscarded):
		return errs.New(errs.ECONFLICT, "Dead letter discarded", err.Error()+": a discarded dead letter is not replayed")
	case errors.Is(err, messaging.ErrDeadLetterReplayed):
		return errs.New(errs.ECONFLICT, "Dead letter replayed", err.Error()+": its message went back to its topic, which a discard cannot undo")
	}
	return errs.New(errs.EUNAVAILABLE, failed, err.Error())
}

func deadLetterAPI(dl messaging.DeadLetter) api.DeadLetter {
	out := api.DeadLetter{
		Id: dl.ID, Topic: dl.Topic, OriginalTopic: dl.OriginalTopic, OriginalPartition: dl.OriginalPartition,
		OriginalOffset: dl.OriginalOffset, Key: dl.Key, EventId: dl.EventID, EventType: dl.EventType,
		Error: dl.Error, Attempts: dl.Attempts, Consumer: dl.Consumer, DeadLetteredAt: dl.DeadLetteredAt,
		State: api.DeadLetterState(dl.State), Headers: dl.Headers, Payload: payloadJSON(dl.Payload),
	}
	if out.Headers == nil {
		out.Headers = map[string]string{}
	}
	if !dl.StateAt.IsZero() {
		out.StateAt = &dl.StateAt
	}
	return out
}

// payloadJSON is a message body as the API shows it: itself when it is JSON, so that it reads as
// the event it is; else a string of it (a malformed message, which is often why it is a dead letter).
func payloadJSON(body []byte) json.RawMessage {
	if json.Valid(body) {
		return body
	}
	s, _ := json.Marshal(string(body)) // bytes that are not UTF-8 become U+FFFD
	return s
}
