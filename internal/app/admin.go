package app

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/errs"
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
	out := api.ListDeadLetters200JSONResponse{Items: []api.DeadLetter{}}
	for _, dl := range letters {
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
// produced again to its original topic (it stays listed: Kafka cannot delete it); an outbox dead
// letter is moved back into its service's outbox, for the relay to try again (it leaves the list).
func (a admin) ReplayDeadLetter(ctx context.Context, req api.ReplayDeadLetterRequestObject) (api.ReplayDeadLetterResponseObject, error) {
	var dl messaging.DeadLetter
	var err error
	if messaging.IsOutboxDeadLetterID(req.Id) {
		dl, err = messaging.ReplayRelayedDeadLetter(ctx, a.outboxes, req.Id)
	} else {
		dl, err = messaging.ReplayDeadLetter(ctx, a.kafka, req.Id)
	}
	if errors.Is(err, messaging.ErrDeadLetterNotFound) {
		return nil, errs.New(errs.ENOTFOUND, "No such dead letter", err.Error())
	}
	if err != nil {
		return nil, errs.New(errs.EUNAVAILABLE, "Replay failed", err.Error())
	}
	return api.ReplayDeadLetter202JSONResponse(deadLetterAPI(dl)), nil
}

func deadLetterAPI(dl messaging.DeadLetter) api.DeadLetter {
	return api.DeadLetter{
		Id: dl.ID, Topic: dl.Topic, OriginalTopic: dl.OriginalTopic, OriginalPartition: dl.OriginalPartition,
		OriginalOffset: dl.OriginalOffset, Key: dl.Key, EventId: dl.EventID, EventType: dl.EventType,
		Error: dl.Error, Attempts: dl.Attempts, Consumer: dl.Consumer, DeadLetteredAt: dl.DeadLetteredAt,
	}
}
